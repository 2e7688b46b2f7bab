import json

import pytest
from kubernetes import client

from kubesim import objects as o


@pytest.fixture
def checkout():
    return o.deployment(
        "payments",
        "checkout-api",
        "registry/checkout:v2",
        3,
        service_account="checkout-api",
        role_arn=o.role_arn("checkout"),
    )


def store_all(sim, *objs):
    for obj in objs:
        sim.store.create(obj)


def test_deployment_replicaset_and_pods_are_linked_by_owner_uid(checkout):
    dep, [rs], pods = checkout.controller, checkout.replicasets, checkout.pods

    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "checkout-api",
            "uid": dep["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert len(pods) == 3
    for pod in pods:
        [ref] = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"]) == ("ReplicaSet", rs["metadata"]["uid"])
        assert pod["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
        assert pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]
    assert len({p["metadata"]["name"] for p in pods}) == 3


def test_deployment_carries_last_applied_configuration_with_env_values(checkout):
    applied = checkout.controller["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]

    assert o.DEMO_SECRET in applied
    assert json.loads(applied)["kind"] == "Deployment"


def test_pods_carry_a_realistic_spec(checkout):
    spec = checkout.pods[0]["spec"]
    [container] = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}

    assert env["DATABASE_PASSWORD"] == o.DEMO_SECRET
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert env["AWS_ROLE_ARN"] == o.role_arn("checkout")
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
    assert container["resources"]["limits"] == {"memory": "512Mi"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert spec["serviceAccountName"] == "checkout-api"
    assert spec["nodeName"] in o.NODES
    assert spec["terminationGracePeriodSeconds"] == 30


def test_healthy_pods_and_controller_status_agree(checkout):
    checkout.refresh()
    pod_status = checkout.pods[0]["status"]
    [cs] = pod_status["containerStatuses"]

    assert pod_status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in pod_status["conditions"]}["Ready"] == "True"
    assert cs["ready"] is True and cs["restartCount"] == 0 and "running" in cs["state"]
    assert cs["imageID"].startswith("registry/checkout@sha256:")
    assert pod_status["podIP"] and pod_status["hostIP"] == o.node_ip(checkout.pods[0]["spec"]["nodeName"])
    assert checkout.controller["status"]["readyReplicas"] == 3
    assert checkout.replicasets[0]["status"]["readyReplicas"] == 3


def test_crashloop_waits_in_back_off_with_the_last_exit(checkout):
    pod = o.crashloop(checkout.pods[0], restarts=6)
    [cs] = pod["status"]["containerStatuses"]
    checkout.refresh()

    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert "back-off 5m0s restarting failed container=checkout-api" in cs["state"]["waiting"]["message"]
    assert cs["restartCount"] == 6 and cs["ready"] is False
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["finishedAt"]
    assert not o.is_ready(pod)
    assert checkout.controller["status"]["unavailableReplicas"] == 1
    available = checkout.controller["status"]["conditions"][0]
    assert (available["type"], available["status"]) == ("Available", "False")


def test_back_off_grows_and_caps_at_five_minutes():
    assert [o.backoff_text(n) for n in (1, 2, 4, 5, 9)] == ["10s", "20s", "1m20s", "2m40s", "5m0s"]


def test_image_pull_backoff_is_pending(checkout):
    pod = o.image_pull_backoff(checkout.pods[0])
    [cs] = pod["status"]["containerStatuses"]

    assert pod["status"]["phase"] == "Pending"
    assert cs["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert 'Back-off pulling image "registry/checkout:v2"' in cs["state"]["waiting"]["message"]


def test_oom_killed_keeps_the_last_termination(checkout):
    pod = o.oom_killed(checkout.pods[0], restarts=4)
    [cs] = pod["status"]["containerStatuses"]

    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["restartCount"] == 4 and "running" in cs["state"]


def test_pending_unschedulable_has_no_node(checkout):
    pod = o.pending_unschedulable(checkout.pods[0])
    [scheduled] = pod["status"]["conditions"]

    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"] and "containerStatuses" not in pod["status"]
    assert scheduled == {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": scheduled["lastTransitionTime"],
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory.",
    }

    assert o.running(pod)["status"]["phase"] == "Running"


def test_statefulset_pods_are_ordinal_and_owned(sim, api):
    sts = o.statefulset("data", "db-proxy", "pgbouncer:1", 2)
    store_all(sim, o.namespace("data"), *sts.objects())

    pods = client.CoreV1Api(api).list_namespaced_pod("data").items
    read = client.AppsV1Api(api).read_namespaced_stateful_set("db-proxy", "data")

    assert [p.metadata.name for p in pods] == ["db-proxy-0", "db-proxy-1"]
    assert {p.metadata.owner_references[0].uid for p in pods} == {read.metadata.uid}
    assert read.status.ready_replicas == 2


def test_daemonset_runs_one_pod_per_node(sim, api):
    store_all(sim, o.namespace("kube-system"), *o.daemonset("kube-system", "aws-node", "cni:1").objects())

    pods = client.CoreV1Api(api).list_namespaced_pod("kube-system").items
    ds = client.AppsV1Api(api).read_namespaced_daemon_set("aws-node", "kube-system")

    assert sorted(p.spec.node_name for p in pods) == sorted(o.NODES)
    assert ds.status.number_ready == len(o.NODES)


def test_cronjob_job_and_pod_chain(sim, api):
    cron = o.cronjob("payments", "report", "report:1", "0 2 * * *")
    run = o.job("payments", "report-28843200", owner=cron)
    store_all(sim, o.namespace("payments"), cron, *run.objects())
    batch = client.BatchV1Api(api)

    job = batch.read_namespaced_job("report-28843200", "payments")
    [pod] = (
        client.CoreV1Api(api).list_namespaced_pod("payments", label_selector="job-name=report-28843200").items
    )

    assert job.metadata.owner_references[0].kind == "CronJob"
    assert (
        job.metadata.owner_references[0].uid
        == batch.read_namespaced_cron_job("report", "payments").metadata.uid
    )
    assert job.status.succeeded == 1
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.reason == "Completed"


def test_pdb_serviceaccount_and_warning_event_read_through_the_client(sim, api, checkout):
    store_all(
        sim,
        o.namespace("payments"),
        *checkout.objects(),
        o.pdb(
            "payments",
            "checkout-api",
            {"app": "checkout-api"},
            min_available=2,
            expected=3,
            healthy=3,
        ),
        o.serviceaccount("payments", "checkout-api", {"eks.amazonaws.com/role-arn": o.role_arn("checkout")}),
        o.warning_event(checkout.pods[0], "BackOff", "Back-off restarting failed container", count=5),
    )
    core = client.CoreV1Api(api)

    pdb = client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("checkout-api", "payments")
    sa = core.read_namespaced_service_account("checkout-api", "payments")
    [event] = core.list_namespaced_event("payments").items

    assert pdb.spec.min_available == 2 and pdb.status.disruptions_allowed == 1
    assert sa.metadata.annotations["eks.amazonaws.com/role-arn"] == o.role_arn("checkout")
    assert event.type == "Warning" and event.count == 5 and event.reason == "BackOff"
    assert event.involved_object.uid == checkout.pods[0]["metadata"]["uid"]
    assert event.last_timestamp is not None and event.source.component == "kubelet"


def test_builders_are_stable_across_calls():
    first = o.deployment("a", "web", "web:1", 2)
    second = o.deployment("a", "web", "web:1", 2)

    assert [p["metadata"]["name"] for p in first.pods] == [p["metadata"]["name"] for p in second.pods]
    assert first.controller["metadata"]["uid"] == second.controller["metadata"]["uid"]

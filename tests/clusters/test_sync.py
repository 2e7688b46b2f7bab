"""The sync over HTTP against kubesim: diff by uid and resourceVersion, one transaction per kind."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection

from apps.clusters import sync
from apps.clusters.models import Namespace, Pod, SyncRun, TeamNamespace, WarningEvent, Workload

pytestmark = pytest.mark.django_db


def run(cluster):
    return sync.cluster_sync(cluster=cluster)


def pod_named(prefix: str) -> Pod:
    return Pod.objects.filter(name__startswith=prefix).order_by("name").first()


def test_a_first_sync_stores_every_kind(cluster, sim):
    result = run(cluster)
    assert result.run.status == "ok", result.run.kinds
    assert {k: v.status for k, v in result.kinds.items()} == {k: "ok" for k in result.kinds}
    assert result.run.skipped == 0  # the demo is well-formed: nothing is left out
    assert set(result.kinds) == {
        "namespaces", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
        "cronjobs", "pods", "serviceaccounts", "poddisruptionbudgets", "events",
        "gitrepositories", "ocirepositories", "helmrepositories", "helmcharts", "kustomizations",
        "helmreleases", "imagerepositories", "imagepolicies", "imageupdateautomations",
    }  # fmt: skip
    assert Pod.objects.count() == sim.store.count("pods")
    assert Workload.objects.filter(kind="Deployment").count() == sim.store.count("deployments.apps")
    assert WarningEvent.objects.exists()
    assert result.run.created == result.run.seen > 0
    cluster.refresh_from_db()
    assert cluster.last_success_at and not cluster.last_error and cluster.kind_errors == {}


def test_pods_resolve_their_deployment_through_the_replicaset(cluster):
    run(cluster)
    pod = pod_named("checkout-api")
    assert pod.owner["kind"] == "ReplicaSet"
    assert (pod.workload_kind, pod.workload_name) == ("Deployment", "checkout-api")


def test_the_demo_problems_are_classified(cluster):
    run(cluster)
    problems = dict(Pod.objects.exclude(problem="").values_list("name", "problem"))
    kinds = set(problems.values())
    assert {"CrashLoopBackOff", "ImagePullBackOff", "OOMKilled", "Unschedulable"} <= kinds, problems


def test_a_resync_with_nothing_changed_writes_nothing(cluster, django_assert_max_num_queries):
    run(cluster)
    result = run(cluster)
    assert (result.run.created, result.run.updated, result.run.deleted) == (0, 0, 0)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        run(cluster)
    writes = [
        q["sql"] for q in ctx.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))
        and "clusters_syncrun" not in q["sql"] and "clusters_cluster" not in q["sql"]
    ]  # fmt: skip
    assert writes == []


def test_changes_are_applied_by_uid_and_resource_version(cluster, sim):
    run(cluster)
    target = sim.store.list("pods", "search")[0]
    name = target["metadata"]["name"]

    def bump(pod):
        pod["status"]["containerStatuses"][0]["restartCount"] = 99

    sim.store.update("pods", "search", name, bump, status_only=True)
    victim = sim.store.list("pods", "payments")[-1]["metadata"]["name"]
    sim.store.delete("pods", "payments", victim)
    result = run(cluster)
    assert result.kinds["pods"].updated == 1 and result.kinds["pods"].deleted == 1
    assert Pod.objects.get(name=name).restarts == 99
    assert not Pod.objects.filter(name=victim).exists()


def test_secrets_never_reach_the_database(cluster, sim):
    run(cluster)
    everything = json.dumps(
        [
            list(Pod.objects.values("spec", "annotations", "labels")),
            list(Workload.objects.values("template", "annotations", "details")),
        ],
        default=str,
    )
    assert "last-applied-configuration" not in everything
    raw = json.dumps(sim.store.list("pods"), default=str)
    for pod in sim.store.list("pods"):
        for container in pod["spec"]["containers"]:
            for var in container.get("env") or []:
                value = var.get("value")
                if value and var["name"] not in {
                    "AWS_STS_REGIONAL_ENDPOINTS",
                    "AWS_REGION",
                    "AWS_DEFAULT_REGION",
                }:
                    assert value in raw  # the cluster has it...
                    if len(value) > 3:
                        assert f'"{value}"' not in everything, var["name"]  # ...we do not


def test_namespaces_belong_to_teams_by_label_and_explicit_assignment(cluster, teams):
    run(cluster)
    owners = dict(Namespace.objects.values_list("name", "team__slug"))
    assert owners["payments"] == "payments" and owners["search"] == "search"
    assert owners["kube-system"] is None
    TeamNamespace.objects.create(team=teams["search"], cluster=cluster, namespace="kube-system")
    TeamNamespace.objects.create(team=teams["search"], cluster=cluster, namespace="payments")
    run(cluster)
    kube_system = Namespace.objects.get(name="kube-system")
    assert kube_system.team == teams["search"]
    payments = Namespace.objects.get(name="payments")
    assert payments.team is None and payments.conflict == ["payments", "search"]


# --- failures -------------------------------------------------------------------


def test_a_500_on_page_3_of_5_keeps_the_old_pods_and_the_rest_syncs(cluster, sim, settings):
    settings.SHIRUBE_SYNC_PAGE_SIZE = max(1, -(-sim.store.count("pods") // 5))
    run(cluster)
    before = set(Pod.objects.values_list("uid", "resource_version"))
    new_pod_owner = sim.store.list("pods", "search")[0]["metadata"]["name"]
    sim.store.update("pods", "search", new_pod_owner, lambda p: p["metadata"]["labels"].update(x="y"))
    sim.store.update("deployments.apps", "payments", "checkout-api",
                     lambda d: d["metadata"]["labels"].update(changed="yes"))  # fmt: skip
    sim.add_fault(r"/api/v1/pods", status=500, page=3)
    result = run(cluster)
    assert result.kinds["pods"].status == "error" and "500" in result.kinds["pods"].error
    assert result.run.status == "partial"
    assert set(Pod.objects.values_list("uid", "resource_version")) == before  # wholly old
    changed = Workload.objects.get(kind="Deployment", namespace="payments", name="checkout-api")
    assert changed.labels["changed"] == "yes"
    cluster.refresh_from_db()
    assert "pods" in cluster.kind_errors and cluster.last_error == ""


def test_a_410_on_a_continue_token_restarts_the_list(cluster, sim, settings):
    settings.SHIRUBE_SYNC_PAGE_SIZE = 3
    sim.add_fault(r"/api/v1/pods", status=410, only_continue=True, times=1)
    result = run(cluster)
    assert result.kinds["pods"].status == "ok"
    assert Pod.objects.count() == sim.store.count("pods")
    assert sim.requests.count("GET", "/api/v1/pods") > -(-sim.store.count("pods") // 3)


def test_a_403_on_deployments_only_leaves_the_rest_working(cluster, sim):
    sim.add_fault(r"/apis/apps/v1/deployments", status=403)
    result = run(cluster)
    assert result.kinds["deployments"].status == "error"
    assert "forbidden" in result.kinds["deployments"].error
    others = {k: v.status for k, v in result.kinds.items() if k != "deployments"}
    assert set(others.values()) == {"ok"}
    assert not Workload.objects.filter(kind="Deployment").exists()
    assert Pod.objects.exists()


def test_a_timeout_is_an_error_on_that_kind_only(cluster, sim, settings):
    settings.SHIRUBE_SYNC_REQUEST_TIMEOUT = 1
    sim.add_fault(r"/apis/batch/v1/cronjobs", delay=3, times=1)
    result = run(cluster)
    assert result.kinds["cronjobs"].status == "error" and "timeout" in result.kinds["cronjobs"].error
    assert result.kinds["pods"].status == "ok"


def test_an_unreachable_cluster_keeps_everything_and_is_stale(cluster, sim):
    run(cluster)
    pods = Pod.objects.count()
    sim.stop()
    result = run(cluster)
    assert result.run.status == "failed" and result.run.error
    assert Pod.objects.count() == pods
    cluster.refresh_from_db()
    assert cluster.last_error and cluster.last_success_at


def test_the_server_going_away_mid_sync(cluster, sim):
    run(cluster)
    pods_before = set(Pod.objects.values_list("uid", "resource_version"))
    for pod in sim.store.list("pods", "payments")[:2]:
        sim.store.update("pods", "payments", pod["metadata"]["name"],
                         lambda p: p["metadata"]["labels"].update(moved="1"))  # fmt: skip
    sim.add_fault(r"/apis/apps/v1/replicasets", delay=1.5)
    threading.Timer(0.7, sim.stop).start()
    result = run(cluster)
    assert result.run.status == "failed"
    assert result.kinds["namespaces"].status == "ok"  # synced before the server left
    assert "pods" not in result.kinds or result.kinds["pods"].status != "ok"
    assert set(Pod.objects.values_list("uid", "resource_version")) == pods_before


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_syncs_never_run_together(cluster, sim):
    sim.add_fault(r"/api/v1/namespaces", delay=1.0, times=1)
    outcomes = []

    def worker():
        from django.db import connection as thread_connection

        try:
            outcomes.append(run(cluster).run.status)
        except sync.LockHeld:
            outcomes.append("skipped")
        finally:
            thread_connection.close()

    first = threading.Thread(target=worker)
    first.start()
    time.sleep(0.3)
    with pytest.raises(sync.LockHeld):
        run(cluster)
    first.join()
    assert outcomes == ["ok"]


def test_the_database_lock_is_used_without_redis(cluster, settings):
    settings.REDIS_URL = ""
    with sync.cluster_lock(cluster.pk), pytest.raises(sync.LockHeld):
        run(cluster)
    assert run(cluster).run.status == "ok"


def test_a_run_left_running_is_marked_abandoned_by_the_next(cluster):
    stale = SyncRun.objects.create(cluster=cluster)
    run(cluster)
    stale.refresh_from_db()
    assert stale.status == "abandoned" and stale.finished_at


def test_a_connection_dropped_on_one_kind_is_that_kinds_error(cluster, sim):
    sim.add_fault(r"/apis/batch/v1/jobs", drop=True)
    result = run(cluster)
    assert result.kinds["jobs"].status == "error" and "connection" in result.kinds["jobs"].error
    assert result.kinds["pods"].status == "ok" and result.run.status == "partial"


def test_a_wrong_token_is_a_cluster_error_not_a_kind_error(cluster, sim):
    run(cluster)
    pods = Pod.objects.count()
    sim.token = "rotated"
    result = run(cluster)
    assert result.run.status == "failed" and result.run.error.startswith("401 credentials rejected")
    assert Pod.objects.count() == pods


def test_the_apps_above_hear_of_a_change_and_their_failure_is_not_the_syncs(cluster, sim, caplog):
    from apps.clusters.models import Cluster
    from apps.clusters.signals import cluster_snapshot_changed

    heard = []

    def listener(sender, *, cluster, run, **kwargs):
        heard.append((cluster.pk, run.status))
        raise RuntimeError("a higher app broke")

    cluster_snapshot_changed.connect(listener, sender=Cluster)
    try:
        result = sync.cluster_sync(cluster=cluster)
        assert result.run.status == "ok" and heard == [(cluster.pk, "ok")]
        assert "a higher app broke" in caplog.text  # logged for SREs
        sync.cluster_sync(cluster=cluster)  # nothing changed: nothing to tell
        assert len(heard) == 1
    finally:
        cluster_snapshot_changed.disconnect(listener, sender=Cluster)

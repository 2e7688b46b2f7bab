import time

import orjson
import pytest
from kubernetes import client

from kubesim import Store
from kubesim.demo import ROLLOUT_EVERY, evolve, seed_demo
from kubesim.scale import seed_scale


@pytest.fixture
def demo(sim):
    seed_demo(sim.store)
    return sim


@pytest.fixture
def core(demo, api):
    return client.CoreV1Api(api)


def pods_of(core, namespace, app):
    return core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def waiting_reason(pod):
    state = pod.status.container_statuses[0].state
    return state.waiting.reason if state.waiting else None


def test_team_namespaces_are_labelled(core):
    namespaces = {n.metadata.name: n.metadata.labels.get("team") for n in core.list_namespace().items}

    assert namespaces == {
        "payments": "payments",
        "payments-staging": "payments",
        "search": "search",
        "kube-system": None,
        "flux-system": None,
    }


def test_every_pod_has_an_owner_that_exists(demo, api):
    apps, batch = client.AppsV1Api(api), client.BatchV1Api(api)
    owners = {("ReplicaSet", rs.metadata.uid) for rs in apps.list_replica_set_for_all_namespaces().items}
    owners |= {("StatefulSet", s.metadata.uid) for s in apps.list_stateful_set_for_all_namespaces().items}
    owners |= {("DaemonSet", d.metadata.uid) for d in apps.list_daemon_set_for_all_namespaces().items}
    owners |= {("Job", j.metadata.uid) for j in batch.list_job_for_all_namespaces().items}
    deployments = {d.metadata.uid for d in apps.list_deployment_for_all_namespaces().items}

    pods = client.CoreV1Api(api).list_pod_for_all_namespaces().items
    assert pods
    for pod in pods:
        [ref] = pod.metadata.owner_references
        assert (ref.kind, ref.uid) in owners, pod.metadata.name
    for rs in apps.list_replica_set_for_all_namespaces().items:
        assert rs.metadata.owner_references[0].uid in deployments


def test_payments_workloads_are_in_their_states(core, api):
    checkout = pods_of(core, "payments", "checkout-api")
    [ledger] = pods_of(core, "payments", "ledger-worker")
    fraud = pods_of(core, "payments", "fraud-scorer")

    assert len(checkout) == 3 and all(p.status.container_statuses[0].ready for p in checkout)
    assert waiting_reason(ledger) == "CrashLoopBackOff"
    assert ledger.status.container_statuses[0].restart_count > 0
    oom = [p for p in fraud if (p.status.container_statuses[0].last_state.terminated or None)]
    assert oom[0].status.container_statuses[0].last_state.terminated.reason == "OOMKilled"
    assert oom[0].status.container_statuses[0].restart_count > 0

    apps = client.AppsV1Api(api)
    assert apps.read_namespaced_stateful_set("payments-db-proxy", "payments").status.ready_replicas == 2
    assert client.BatchV1Api(api).read_namespaced_cron_job("settlement-report", "payments").spec.schedule
    assert client.BatchV1Api(api).list_namespaced_job("payments").items[0].status.succeeded == 1
    assert client.PolicyV1Api(api).read_namespaced_pod_disruption_budget("checkout-api", "payments")
    accounts = {
        sa.metadata.name: sa.metadata.annotations or {}
        for sa in core.list_namespaced_service_account("payments").items
    }
    assert accounts["checkout-api"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_search_workloads_are_in_their_states(core):
    assert len(pods_of(core, "search", "search-api")) == 2
    [indexer] = pods_of(core, "search", "indexer")
    cache = pods_of(core, "search", "query-cache")

    assert waiting_reason(indexer) == "ImagePullBackOff"
    [pending] = [p for p in cache if p.status.phase == "Pending"]
    [scheduled] = pending.status.conditions
    assert (scheduled.type, scheduled.status, scheduled.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert scheduled.message == "0/3 nodes are available: 3 Insufficient memory."


def test_failing_pods_have_warning_events(core):
    warnings = core.list_event_for_all_namespaces(field_selector="type=Warning").items
    reasons = {(e.involved_object.name.rsplit("-", 2)[0], e.reason) for e in warnings}

    assert {
        ("ledger-worker", "BackOff"),
        ("indexer", "Failed"),
        ("indexer", "BackOff"),
        ("query-cache", "FailedScheduling"),
        ("fraud-scorer", "OOMKilling"),
    } <= reasons
    assert all(e.count >= 1 and e.last_timestamp for e in warnings)


def test_system_namespaces_run_their_controllers(core):
    assert pods_of(core, "kube-system", "coredns") == []  # coredns is labelled k8s-app
    assert len(core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items) == 2
    flux = {p.metadata.labels["app"] for p in core.list_namespaced_pod("flux-system").items}
    assert "kustomize-controller" in flux


def test_evolve_restarts_the_crashlooping_pod(demo, core):
    [before] = pods_of(core, "payments", "ledger-worker")
    restarts = before.status.container_statuses[0].restart_count

    evolve(demo.store, 1)
    [up] = pods_of(core, "payments", "ledger-worker")
    evolve(demo.store, 2)
    [down] = pods_of(core, "payments", "ledger-worker")

    assert up.status.container_statuses[0].restart_count == restarts + 1
    assert up.status.container_statuses[0].state.running is not None
    assert waiting_reason(down) == "CrashLoopBackOff"


def test_evolve_rolls_search_api_out_pod_by_pod(demo, core, api):
    apps = client.AppsV1Api(api)
    old_image = apps.read_namespaced_deployment("search-api", "search").spec.template.spec.containers[0].image

    evolve(demo.store, ROLLOUT_EVERY)  # starts a rollout
    new_image = apps.read_namespaced_deployment("search-api", "search").spec.template.spec.containers[0].image
    evolve(demo.store, ROLLOUT_EVERY + 1)
    midway = {p.spec.containers[0].image for p in pods_of(core, "search", "search-api")}
    for tick in range(ROLLOUT_EVERY + 2, ROLLOUT_EVERY + 5):
        evolve(demo.store, tick)

    assert new_image != old_image and new_image.rsplit(":", 1)[0] == old_image.rsplit(":", 1)[0]
    assert midway == {old_image, new_image}
    pods = pods_of(core, "search", "search-api")
    assert len(pods) == 2 and {p.spec.containers[0].image for p in pods} == {new_image}
    sets = apps.list_namespaced_replica_set("search", label_selector="app=search-api").items
    assert sorted(rs.spec.replicas for rs in sets) == [0, 2]
    status = apps.read_namespaced_deployment("search-api", "search").status
    assert status.updated_replicas == 2 and status.ready_replicas == 2


def test_seed_scale_builds_ten_thousand_pods_in_a_few_seconds():
    store = Store()
    started = time.monotonic()

    seed_scale(store, pods=10_000, namespaces=500, deployments=2_000)

    assert time.monotonic() - started < 5
    assert store.count("pods") == 10_000
    assert store.count("namespaces") == 500
    assert store.count("deployments.apps") == 2_000


def test_ten_thousand_pods_page_through_the_client(sim, api):
    seed_scale(sim.store, pods=10_000, namespaces=500, deployments=2_000)
    core = client.CoreV1Api(api)
    names, versions, token, pages = set(), set(), None, 0

    while True:
        response = core.list_pod_for_all_namespaces(limit=500, _continue=token, _preload_content=False)
        body = orjson.loads(response.data)
        pages += 1
        names.update(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in body["items"])
        versions.add(body["metadata"]["resourceVersion"])
        token = body["metadata"].get("continue")
        if not token:
            break

    assert pages == 20
    assert len(names) == 10_000
    assert len(versions) == 1


def test_an_image_patched_through_the_api_is_rolled_out(demo, core, api):
    apps = client.AppsV1Api(api)
    image = "registry.example/search/search-api:v9.9.9"
    apps.patch_namespaced_deployment(
        "search-api",
        "search",
        {"spec": {"template": {"spec": {"containers": [{"name": "search-api", "image": image}]}}}},
    )

    for tick in range(1, 5):
        evolve(demo.store, tick)

    assert {p.spec.containers[0].image for p in pods_of(core, "search", "search-api")} == {image}
    revision = apps.read_namespaced_deployment("search-api", "search").metadata.annotations
    assert revision["deployment.kubernetes.io/revision"] == "2"

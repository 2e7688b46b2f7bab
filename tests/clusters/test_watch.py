"""Watch sessions against kubesim over HTTP: changes arrive, faults cost only what they must.

Sessions run in a thread of the test (the database is shared: transactional tests), and every
arrival is awaited with a generous bound (30 s) so that a broken build fails instead of hanging;
how fast changes arrive is measured by bench/live_sync.py, not asserted here.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from apps.clusters import sync, watch
from apps.clusters.models import Cluster, Namespace, Pod, SyncRun, Workload
from kubesim import objects as o
from kubesim.demo import seed_demo
from kubesim.server import Simulator
from kubesim.store import Store

pytestmark = pytest.mark.django_db(transaction=True)

ARRIVAL = 30.0  # seconds: a bound for a broken build, not a target


class Running:
    """A watch session in a thread; `stop()` ends it and returns its result (or raises its error)."""

    def __init__(self, cluster: Cluster, seconds: float = 120) -> None:
        self.stop_event = threading.Event()
        self.result = self.error = None
        self.started = timezone.now()
        cluster = Cluster.objects.get(pk=cluster.pk)

        def run():
            from django.db import connection

            try:
                self.result = watch.watch_session(cluster=cluster, seconds=seconds, stop=self.stop_event)
            except BaseException as exc:  # handed to the test
                self.error = exc
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait_watching(self, cluster: Cluster) -> None:
        """Until the session's first beat says the cluster is live (its lists are written)."""
        until(
            lambda: (Cluster.objects.get(pk=cluster.pk).live_at or self.started) > self.started,
            "the session to start watching",
        )

    def stop(self) -> watch.SessionResult:
        self.stop_event.set()
        self.thread.join(ARRIVAL)
        assert not self.thread.is_alive(), "the session did not stop"
        if self.error:
            raise self.error
        return self.result


def until(check, what: str, timeout: float = ARRIVAL):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def running(cluster):
    sessions = []

    def start(seconds: float = 120) -> Running:
        session = Running(cluster, seconds)
        sessions.append(session)
        session.wait_watching(cluster)
        return session

    yield start
    for session in sessions:
        session.stop_event.set()
        session.thread.join(ARRIVAL)


def full_sync_writes_nothing(cluster: Cluster) -> None:
    """The contract: after the watch, a full list-and-diff finds nothing to write."""
    result = sync.cluster_sync(cluster=Cluster.objects.get(pk=cluster.pk))
    assert result.run.status == "ok", result.run.kinds
    assert (result.run.created, result.run.updated, result.run.deleted) == (0, 0, 0), {
        key: (k.created, k.updated, k.deleted)
        for key, k in result.kinds.items()
        if k.created or k.updated or k.deleted
    }


def test_a_first_session_lists_every_kind_then_watches(cluster, sim, running):
    session = running()
    assert Pod.objects.count() == sim.store.count("pods")
    stored = Cluster.objects.get(pk=cluster.pk).resource_versions
    assert {"namespaces", "pods", "deployments", "events", "kustomizations"} <= set(stored)
    result = session.stop()
    assert result.run.watch and result.run.status == "ok", result.run.kinds
    assert "pods" in result.listed
    full_sync_writes_nothing(cluster)


def test_a_pod_changing_phase_reaches_the_database(cluster, sim, running):
    running()
    pod = next(
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("checkout-api")
    )
    name = pod["metadata"]["name"]
    sim.store.update("pods", "payments", name, lambda p: o.crashloop(p, 6), status_only=True)
    until(lambda: Pod.objects.filter(name=name, problem="CrashLoopBackOff").exists(), "the crash loop")


def test_a_deployment_scaling_reaches_the_database(cluster, sim, running):
    running()
    sim.store.update("deployments.apps", "payments", "checkout-api", lambda d: d["spec"].update(replicas=7))
    until(
        lambda: Workload.objects.filter(kind="Deployment", name="checkout-api", desired=7).exists(),
        "the new replica count",
    )


def test_a_namespace_gaining_the_team_label_joins_the_team(cluster, sim, running, teams):
    sim.store.create(o.namespace("search-batch"))
    running()
    assert Namespace.objects.get(name="search-batch").team is None
    sim.store.update(
        "namespaces", None, "search-batch", lambda ns: ns["metadata"]["labels"].update(team="search")
    )
    until(lambda: Namespace.objects.get(name="search-batch").team_id == teams["search"].pk, "the team label")


def test_a_deleted_pod_goes(cluster, sim, running):
    running()
    old = next(
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("checkout-api")
    )
    sim.store.delete("pods", "payments", old["metadata"]["name"])
    until(lambda: not Pod.objects.filter(name=old["metadata"]["name"]).exists(), "the deletion")


def test_a_pod_read_before_its_new_replicaset_resolves_to_the_deployment(cluster, sim, running):
    """Two kinds are two streams: a rollout's pod can be written before its ReplicaSet."""
    session = running()
    deployment = sim.store.get("deployments.apps", "payments", "checkout-api")
    deployment["spec"]["template"]["metadata"]["labels"]["rollout"] = "two"
    rs = o.replicaset_for(deployment, revision=9, replicas=1)
    pod = sim.store.create(o.pod_for(rs, index=0))
    name = pod["metadata"]["name"]
    until(lambda: Pod.objects.filter(name=name).exists(), "the pod")
    assert Pod.objects.get(name=name).workload_kind == "ReplicaSet"  # its owner is not known yet
    sim.store.create(rs)
    until(
        lambda: Pod.objects.filter(
            name=name, workload_kind="Deployment", workload_name="checkout-api"
        ).exists(),
        "the pod to resolve to its Deployment",
    )
    session.stop()
    full_sync_writes_nothing(cluster)


def test_a_dropped_watch_resumes_and_loses_nothing(cluster, sim, running):
    session = running()
    names = [p["metadata"]["name"] for p in sim.store.list("pods", "search")]
    sim._httpd.close_connections()  # every open watch stream ends mid-way
    for name in names:
        sim.store.update("pods", "search", name, lambda p: p["metadata"]["labels"].update(dropped="yes"))
    until(
        lambda: Pod.objects.filter(name__in=names, labels__dropped="yes").count() == len(names),
        "the changes made while the watches were down",
    )
    result = session.stop()
    assert result.listed.count("pods") == 1  # listed at the start only: resumed from its version
    full_sync_writes_nothing(cluster)


def test_a_too_old_version_on_resume_lists_the_kind_again(cluster, teams, tmp_path):
    store = Store(event_log_size=40)
    seed_demo(store)
    with Simulator(store, token="t") as sim:
        cluster.kubeconfig_path = str(sim.write_kubeconfig(tmp_path / "small-log"))
        cluster.save()
        first = Running(cluster)
        first.wait_watching(cluster)
        first.stop()
        gone = store.list("pods", "search")[0]["metadata"]["name"]
        store.delete("pods", "search", gone)
        for i in range(60):  # the deletion leaves the event log
            store.apply(o.configmap("search", f"churn-{i % 3}", {"i": str(i)}))
        second = Running(cluster)
        until(lambda: not Pod.objects.filter(name=gone).exists(), "the deletion, from a fresh list")
        result = second.stop()
    assert "pods" in result.listed, result.listed  # 410 Gone: listed again
    assert not Pod.objects.filter(name=gone).exists()
    assert Pod.objects.count() == store.count("pods")


def test_a_forbidden_kind_stays_isolated(cluster, sim, running):
    sim.add_fault(r"/api/v1/serviceaccounts", status=403)
    running()
    name = sim.store.list("pods", "payments")[0]["metadata"]["name"]
    sim.store.update("pods", "payments", name, lambda p: p["metadata"]["labels"].update(seen="yes"))
    until(lambda: Pod.objects.filter(name=name, labels__seen="yes").exists(), "a pod change beside the 403")
    errors = Cluster.objects.get(pk=cluster.pk).kind_errors
    assert set(errors) == {"serviceaccounts"} and "HTTP 403" in errors["serviceaccounts"]
    sim.clear_faults()


def test_two_sessions_racing_for_one_cluster_one_wins(cluster, sim):
    barrier = threading.Barrier(2)
    outcomes: list = []
    stop = threading.Event()

    def contender():
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(
                watch.watch_session(cluster=Cluster.objects.get(pk=cluster.pk), seconds=60, stop=stop)
            )
        except sync.LockHeld:
            outcomes.append("lock held")
        finally:
            connection.close()

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for thread in threads:
        thread.start()
    until(lambda: "lock held" in outcomes, "one contender to be refused")
    stop.set()
    for thread in threads:
        thread.join(ARRIVAL)
    assert len(outcomes) == 2 and outcomes.count("lock held") == 1
    assert SyncRun.objects.filter(cluster=cluster, watch=True).count() == 1


def test_a_burst_of_5000_pod_changes_is_coalesced_bounded_and_complete(cluster, sim, running, monkeypatch):
    monkeypatch.setattr(watch, "MAX_BATCH", 300)  # a bound the burst must meet (5,000 in production)
    session = running()
    template = sim.store.list("pods", "search")[0]
    started = time.monotonic()
    for i in range(1000):  # 1,000 new pods, each changed four times as it starts: 5,000 events
        name = sim.store.create(o.pod("search", f"burst-{i:04d}", template["spec"], labels={"app": "burst"}))[
            "metadata"
        ]["name"]
        for step in range(4):
            sim.store.update(
                "pods", "search", name, lambda p, r=step: p["metadata"]["labels"].update(r=str(r))
            )
    made = time.monotonic() - started
    assert made < 10, f"the burst took {made:.1f} s to make"
    until(
        lambda: Pod.objects.filter(name__startswith="burst-", labels__r="3").count() == 1000,
        "every pod's last change",
    )
    result = session.stop()
    assert result.events >= 1000  # read, possibly fewer than 5,000: the server coalesces nothing, we do
    assert result.writes < result.events / 10, (result.writes, result.events)  # batched
    pods = result.kinds["pods"]
    # Coalesced: a pod's changes within the window are one write, not five.
    assert pods.created + pods.updated < 2500, (pods.created, pods.updated)
    assert 0 < result.peak_batch <= 300  # memory: never more objects held than the bound
    full_sync_writes_nothing(cluster)


def test_a_first_session_tells_the_other_apps_once_for_all_its_lists(cluster, sim, running):
    """Readiness recomputes the whole cluster on a list's news: once per session, not per kind."""
    from apps.clusters.signals import cluster_snapshot_changed

    told = []

    def receiver(sender, cluster, run, namespaces, **kwargs):
        told.append(namespaces)

    cluster_snapshot_changed.connect(receiver, weak=False)
    try:
        session = running()
        session.stop()
    finally:
        cluster_snapshot_changed.disconnect(receiver)
    assert told == [None], told  # every kind listed, one whole-cluster recompute

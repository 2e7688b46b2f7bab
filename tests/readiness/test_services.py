"""Recomputing findings after a sync of the kubesim demo: what is found, kept, exempted and dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.clusters import sync
from apps.readiness.models import Assessment, Finding, RestartSample, Waiver
from apps.readiness.services import readiness_recompute, team_scores
from kubesim import objects as o

pytestmark = pytest.mark.django_db


def synced(cluster, now=None):
    sync.cluster_sync(cluster=cluster)
    return readiness_recompute(cluster=cluster, now=now)


def finding(name: str, rule: str, namespace: str = "") -> Finding | None:
    found = Finding.objects.filter(workload_name=name, rule=rule)
    return (found.filter(namespace=namespace) if namespace else found).first()


def test_the_demo_has_a_finding_for_each_story_lesson(cluster, teams):
    result = synced(cluster)
    assert result.workloads > 10 and result.created > 0
    grace = finding("query-cache", "graceful-termination")
    assert grace and grace.team == teams["search"] and "no preStop hook" in grace.detail
    sts = finding("fraud-scorer", "sts-regional-endpoints")
    assert sts and sts.team == teams["payments"] and sts.severity == "high"
    assert finding("checkout-api", "sts-regional-endpoints") is None  # IRSA with the regional variable
    metrics = Finding.objects.filter(rule="metrics-exposed").values_list("team__slug", flat=True)
    assert {"payments", "search"} <= set(metrics)


def test_jobs_of_a_cronjob_are_judged_through_the_cronjob(cluster):
    synced(cluster)
    kinds = dict(Assessment.objects.filter(namespace="payments").values_list("name", "kind"))
    assert kinds["settlement-report"] == "CronJob"
    assert not any(kind == "Job" for kind in kinds.values())
    assert "ReplicaSet" not in set(kinds.values())


def test_a_finding_keeps_its_first_seen_time_and_goes_when_fixed(cluster, sim):
    start = timezone.now() - timedelta(hours=3)
    synced(cluster, now=start)
    first_seen = finding("fraud-scorer", "sts-regional-endpoints").first_seen
    assert first_seen == start

    def add_pre_stop(dep):
        container = dep["spec"]["template"]["spec"]["containers"][0]
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}

    sim.store.update("deployments.apps", "search", "query-cache", add_pre_stop)
    result = synced(cluster)
    assert result.deleted >= 1
    assert finding("query-cache", "graceful-termination") is None
    assert finding("fraud-scorer", "sts-regional-endpoints").first_seen == first_seen


def test_a_recompute_with_nothing_changed_writes_nothing(cluster):
    synced(cluster)
    with CaptureQueriesContext(connection) as ctx:
        result = readiness_recompute(cluster=cluster)
    writes = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert (result.created, result.updated, result.deleted) == (0, 0, 0)
    assert writes == []


def test_a_workload_annotation_exempts_the_named_rules_with_its_reason(cluster, sim, teams):
    synced(cluster)
    before = team_scores()[teams["search"].pk]

    def ignore(dep):
        dep["metadata"].setdefault("annotations", {}).update({
            "shirube.io/ignore-rules": "graceful-termination,metrics-exposed",
            "shirube.io/ignore-reason": "redis cache, drained by the client",
        })  # fmt: skip

    sim.store.update("deployments.apps", "search", "query-cache", ignore)
    synced(cluster)
    f = finding("query-cache", "graceful-termination")
    assert f.exempt_reason == "Ignored by the workload: redis cache, drained by the client"
    assert f.is_exempt() and not Finding.objects.active().filter(pk=f.pk).exists()
    assert not finding("query-cache", "readiness-probe").exempt_reason  # not named: still counts
    after = team_scores()[teams["search"].pk]
    assert after["failing"] == before["failing"] - 2 and after["score"] > before["score"]


def test_a_namespace_annotation_exempts_every_workload_in_it(cluster, sim):
    def ignore(ns):
        ns["metadata"]["annotations"] = {"shirube.io/ignore-rules": "metrics-exposed"}

    sim.store.update("namespaces", "", "payments", ignore)
    synced(cluster)
    reasons = set(
        Finding.objects.filter(namespace="payments", rule="metrics-exposed").values_list(
            "exempt_reason", flat=True
        )
    )
    assert reasons == {"Ignored by the namespace: no reason given"}
    assert Finding.objects.filter(namespace="search", rule="metrics-exposed", exempt_reason="").exists()


def test_a_waiver_exempts_until_it_expires(cluster, sre):
    synced(cluster)
    expires = timezone.now() + timedelta(days=7)
    Waiver.objects.create(
        rule="sts-regional-endpoints", namespace="payments", workload_name="fraud-scorer",
        reason="moving to Pod Identity in May", expires_at=expires, created_by=sre,
    )  # fmt: skip
    readiness_recompute(cluster=cluster)
    f = finding("fraud-scorer", "sts-regional-endpoints")
    assert f.exempt_reason == "Waived by an SRE: moving to Pod Identity in May" and f.exempt_until == expires
    assert not Finding.objects.active().filter(pk=f.pk).exists()
    # Expiry needs no recompute: the finding counts again as soon as the waiver ends.
    assert Finding.objects.active(now=expires + timedelta(seconds=1)).filter(pk=f.pk).exists()
    readiness_recompute(cluster=cluster, now=expires + timedelta(seconds=1))
    assert finding("fraud-scorer", "sts-regional-endpoints").exempt_reason == ""


def test_restarts_count_only_what_happened_in_the_last_24_hours(cluster, sim, settings):
    settings.SHIRUBE_READINESS_RESTARTS_24H = 5
    t0 = timezone.now()
    synced(cluster, now=t0)  # ledger-worker's pod, two days old, restarted 17 times before Shirube saw it
    assert finding("ledger-worker", "restarts") is None
    (pod,) = [
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("ledger-worker")
    ]
    name = pod["metadata"]["name"]

    def restart(p, to):
        p["status"]["containerStatuses"][0]["restartCount"] = to

    sim.store.update("pods", "payments", name, lambda p: restart(p, 20), status_only=True)
    synced(cluster, now=t0 + timedelta(hours=1))  # 3 restarts: under the threshold
    assert finding("ledger-worker", "restarts") is None
    sim.store.update("pods", "payments", name, lambda p: restart(p, 26), status_only=True)
    synced(cluster, now=t0 + timedelta(hours=2))  # 9 in the window
    assert "9 restarts in the last 24 hours" in finding("ledger-worker", "restarts").detail
    # A day later, nothing new: the restarts have left the window, the old samples are pruned.
    readiness_recompute(cluster=cluster, now=t0 + timedelta(hours=27))
    assert finding("ledger-worker", "restarts") is None
    pod_uid = pod["metadata"]["uid"]
    assert list(RestartSample.objects.filter(pod_uid=pod_uid).values_list("restarts", flat=True)) == [26]


def test_a_new_pod_counts_its_restarts_from_zero(cluster, sim):
    synced(cluster)
    w = o.deployment("search", "flaky", f"{o.REGISTRY}/search/flaky:v1.0.0", 1, started=timezone.now())
    o.crashloop(w.pods[0], restarts=8)
    for obj in w.objects():
        sim.store.apply(obj)
    synced(cluster)
    assert "8 restarts" in finding("flaky", "restarts").detail


def test_a_deleted_workload_loses_its_findings_and_assessment(cluster, sim):
    synced(cluster)
    assert finding("query-cache", "graceful-termination")
    sim.store.delete("deployments.apps", "search", "query-cache")
    synced(cluster)
    assert not Finding.objects.filter(workload_name="query-cache").exists()
    assert not Assessment.objects.filter(name="query-cache").exists()


def test_a_production_cluster_adds_the_replicas_rule(cluster):
    cluster.stage = cluster.Stage.PRODUCTION
    cluster.save()
    synced(cluster)
    ledger = finding("ledger-worker", "replicas-and-pdb", "payments")
    assert ledger and "1 replica" in ledger.detail and "no PodDisruptionBudget" in ledger.detail
    assert finding("checkout-api", "replicas-and-pdb", "payments") is None  # 3 replicas and its PDB


def test_the_task_tolerates_a_deleted_cluster(cluster):
    from apps.readiness.tasks import readiness_recompute as task

    sync.cluster_sync(cluster=cluster)
    assert task(cluster.pk) > 0
    assert task(999_999) == 0

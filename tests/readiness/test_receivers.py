"""Readiness answers the sync's signal: a recompute queued once the sync's writes are committed."""

from __future__ import annotations

import pytest

from apps.clusters import sync
from apps.readiness import tasks

pytestmark = pytest.mark.django_db


def test_the_sync_queues_a_recompute_after_it_commits(
    cluster, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.readiness_recompute, "delay", lambda cluster_id: queued.append(cluster_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sync.cluster_sync(cluster=cluster)
    assert queued == [cluster.pk], callbacks  # once, after the commit (other apps queue their own)
    with django_capture_on_commit_callbacks(execute=True):
        sync.cluster_sync(cluster=cluster)  # nothing changed: nothing to recompute
    assert queued == [cluster.pk]


def test_a_recompute_of_some_namespaces_touches_nothing_else(cluster):
    from apps.readiness.models import Finding
    from apps.readiness.services import readiness_recompute

    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    everywhere = set(Finding.objects.values_list("namespace", "workload_name", "rule"))
    assert {"payments", "search"} <= {ns for ns, _, _ in everywhere}
    Finding.objects.all().delete()  # as if every finding were out of date
    result = readiness_recompute(cluster=cluster, namespaces={"payments"})
    again = set(Finding.objects.values_list("namespace", "workload_name", "rule"))
    assert again == {f for f in everywhere if f[0] == "payments"}  # only payments was judged again
    assert result.workloads < sum(1 for _ in everywhere)
    readiness_recompute(cluster=cluster, namespaces={"search"})
    assert set(Finding.objects.values_list("namespace", "workload_name", "rule")) >= {
        f for f in everywhere if f[0] in ("payments", "search")
    }


def test_a_watch_write_gathers_its_namespaces_for_one_recompute(
    cluster, monkeypatch, django_capture_on_commit_callbacks
):
    """The signal carries what changed; changes within a second are gathered in Redis for one task."""
    runs = []
    queued = []
    monkeypatch.setattr(
        tasks.readiness_recompute_gathered, "apply_async", lambda args, countdown: queued.append(args[0])
    )
    monkeypatch.setattr(
        tasks.services, "readiness_recompute",
        lambda *, cluster, namespaces=None: runs.append(namespaces) or tasks.services.RecomputeResult(),
    )  # fmt: skip
    from apps.clusters.models import SyncRun

    run = SyncRun.objects.create(cluster=cluster)
    with django_capture_on_commit_callbacks(execute=True):
        for namespaces in ({"payments"}, {"search", "payments"}, {""}):
            sync.snapshot_changed_tell(cluster=cluster, run=run, namespaces=namespaces)
    assert queued == [cluster.pk]  # one task for the three writes
    tasks.readiness_recompute_gathered(cluster.pk)
    assert runs == [{"payments", "search"}]
    tasks.readiness_recompute_gathered(cluster.pk)  # nothing gathered since: nothing to do
    assert runs == [{"payments", "search"}]
    with django_capture_on_commit_callbacks(execute=True):
        sync.snapshot_changed_tell(cluster=cluster, run=run, namespaces={"search"})
    assert queued == [cluster.pk, cluster.pk]  # the flag went with the run: the next write queues again

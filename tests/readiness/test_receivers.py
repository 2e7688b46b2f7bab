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
    assert queued == [cluster.pk] and len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True):
        sync.cluster_sync(cluster=cluster)  # nothing changed: nothing to recompute
    assert queued == [cluster.pk]

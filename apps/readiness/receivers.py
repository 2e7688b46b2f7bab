"""Answers to the lower floors' signals (connected in ReadinessConfig.ready)."""

from __future__ import annotations

from django.dispatch import receiver

from apps.clusters.signals import cluster_snapshot_changed
from apps.readiness.tasks import readiness_recompute_soon


@receiver(cluster_snapshot_changed)
def readiness_recompute_after_sync(sender, *, cluster, **kwargs) -> None:
    """Re-check the cluster's workloads once the sync's writes are committed.

    A task rather than a call: the rules read the whole cluster, and their failure must
    neither hold up the sync nor mark it failed. (Nothing changed: no signal; the
    hourly snapshot re-evaluates anyway.)
    """
    readiness_recompute_soon(cluster_ids=[cluster.pk])

"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

from collections.abc import Iterable

from celery import shared_task
from django.db import transaction

from apps.clusters.models import Cluster
from apps.readiness import services


@shared_task(
    ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True,
    retry_jitter=True, max_retries=3,
)  # fmt: skip
def readiness_recompute(cluster_id: int) -> int:
    """Re-evaluate one cluster's workloads; a cluster deleted meanwhile is not an error."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return 0
    return services.readiness_recompute(cluster=cluster).workloads


def readiness_recompute_soon(*, cluster_ids: Iterable[int]) -> None:
    """Queue a recompute of each cluster once the current transaction commits (after a sync wrote
    something, or a waiver changed), so the task reads what was committed."""
    for cluster_id in cluster_ids:
        transaction.on_commit(lambda cluster_id=cluster_id: readiness_recompute.delay(cluster_id))


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def readiness_snapshot() -> int:
    """Refresh every cluster (the 24-hour restart window slides without syncs), then today's scores."""
    for cluster in Cluster.objects.filter(enabled=True):
        services.readiness_recompute(cluster=cluster)
    return services.team_scores_snapshot()

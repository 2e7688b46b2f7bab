"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from django.conf import settings

from apps.clusters import sync
from apps.clusters.models import Cluster

log = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.SHIRUBE_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.SHIRUBE_SYNC_SOFT_TIME_LIMIT + 30,
    ignore_result=True,
)
def cluster_sync(cluster_id: int) -> str:
    """Sync one cluster. A deleted or disabled cluster, or a held lock, is not an error."""
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None:
        return "gone"
    try:
        result = sync.cluster_sync(cluster=cluster, worker=f"celery@{socket.gethostname()}")
    except sync.LockHeld:
        log.info("sync of %s skipped: another sync holds the lock", cluster.name)
        return "skipped"
    return result.run.status


@shared_task(ignore_result=True)
def clusters_sync_all() -> int:
    """Queue a sync per enabled cluster; each expires before the next round is queued."""
    ids = list(Cluster.objects.filter(enabled=True).values_list("pk", flat=True))
    for cluster_id in ids:
        cluster_sync.apply_async((cluster_id,), expires=settings.SHIRUBE_SYNC_INTERVAL)
    return len(ids)


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def clusters_prune() -> int:
    return sync.sync_runs_prune(days=settings.SHIRUBE_SYNC_RETENTION_DAYS)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.SHIRUBE_RECONCILE_TIMEOUT + 60,
    time_limit=settings.SHIRUBE_RECONCILE_TIMEOUT + 90,
    ignore_result=True,
)
def flux_action_run(action_id: int) -> str:
    """Run a requested Flux action; tolerate it having gone away or run already."""
    from apps.clusters.actions import flux_action_run as run

    action = run(action_id=action_id)
    return action.status if action else "gone"

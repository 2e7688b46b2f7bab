"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from django.conf import settings
from django.db import transaction

from apps.clusters import flux_runner, kube, sync
from apps.clusters.models import Cluster
from apps.core.stepping import chains_restart, step_next

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


# A step makes at most three API requests (read the object, patch its source, patch it), each
# bounded by the connect and read timeouts; it never waits for Flux (apps.core.stepping).
_FLUX_STEP_LIMIT = 3 * (kube.CONNECT_TIMEOUT + settings.SHIRUBE_SYNC_REQUEST_TIMEOUT) + 30


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=_FLUX_STEP_LIMIT,
    time_limit=_FLUX_STEP_LIMIT + 30,
    ignore_result=True,
)
def flux_action_advance(action_id: int) -> str:
    """One step of a Flux action; queues the next itself, and a sync once the action has finished."""

    def finished(action) -> None:
        transaction.on_commit(lambda: cluster_sync.delay(action.cluster_id))  # pages show the outcome

    delay = flux_runner.flux_action_advance(action_id=action_id, finished=finished)
    return step_next(flux_action_advance, action_id, delay)


@shared_task(ignore_result=True)
def flux_actions_watchdog() -> int:
    """Restart the step chain of Flux actions whose queued task was lost (a broker restart)."""
    return chains_restart(flux_action_advance, flux_runner.flux_actions_stalled())

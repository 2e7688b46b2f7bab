"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings
from django.db import transaction

from apps.clusters import flux_events, flux_runner, kube, sync, watch
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


# A session is acknowledged when it starts (not acks_late): if its worker dies, beat starts the
# next one as soon as the lock expires, rather than the broker redelivering it an hour later.
# Time limits apply only to a prefork pool; the `watch` queue runs on threads (README), where a
# session bounds itself.
@shared_task(
    acks_late=False,
    ignore_result=True,
    soft_time_limit=settings.SHIRUBE_WATCH_SESSION_SECONDS + settings.SHIRUBE_SYNC_SOFT_TIME_LIMIT,
    time_limit=settings.SHIRUBE_WATCH_SESSION_SECONDS + settings.SHIRUBE_SYNC_SOFT_TIME_LIMIT + 30,
)
def cluster_watch(cluster_id: int) -> str:
    """One watch session of a cluster; then the next is queued, resuming where this one stopped."""
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None or not cluster.watched:
        return "gone"
    try:
        result = watch.watch_session(cluster=cluster, worker=f"celery@{socket.gethostname()}")
    except sync.LockHeld:
        return "skipped"  # another session (or a full sync) has it
    if result.ended in ("time", "shutdown", "unreachable", "failed"):
        # Unreachable or failed: the next session tries again (beat would also queue one).
        cluster_watch_queue(cluster_id)
    return result.run.status


def cluster_watch_queue(cluster_id: int) -> None:
    """Queue a watch session; it expires if no worker of the `watch` queue takes it soon."""
    cluster_watch.apply_async((cluster_id,), expires=max(settings.SHIRUBE_SYNC_INTERVAL, 30))


@worker_shutting_down.connect
def _watch_sessions_end(**kwargs) -> None:
    """A worker going away ends its sessions at once (each queues the next), instead of holding
    the shutdown for minutes."""
    watch.SHUTDOWN.set()


@shared_task(ignore_result=True)
def clusters_sync_all() -> int:
    """Keep every enabled cluster synced: a list per polled cluster (each expires before the next
    round is queued), and a live watch session per watched cluster (queued when none holds it)."""
    queued = 0
    for cluster in Cluster.objects.filter(enabled=True).only("pk", "sync_mode"):
        if not cluster.watched:
            cluster_sync.apply_async((cluster.pk,), expires=settings.SHIRUBE_SYNC_INTERVAL)
            queued += 1
        elif not sync.cluster_lock_held(cluster.pk):
            cluster_watch_queue(cluster.pk)
            queued += 1
    return queued


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


@shared_task(ignore_result=True, acks_late=True)
def flux_object_refresh(cluster_id: int, kind: str, namespace: str, name: str, api_version: str = "") -> str:
    """Read again the Flux object a pushed event named (apps.clusters.flux_events)."""
    cluster = Cluster.objects.filter(pk=cluster_id, enabled=True).first()
    if cluster is None:
        return "gone"
    try:
        return flux_events.flux_object_refresh(
            cluster=cluster, kind=kind, namespace=namespace, name=name, api_version=api_version
        )
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        log.info("refreshing %s %s/%s of %s: %s", kind, namespace, name, cluster.name, exc)
        return "failed"

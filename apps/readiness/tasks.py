"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.db import transaction

from apps.clusters.models import Cluster
from apps.readiness import services


@shared_task(
    ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True,
    retry_jitter=True, max_retries=3,
)  # fmt: skip
def readiness_recompute(cluster_id: int, namespaces: list[str] | None = None) -> int:
    """Re-evaluate one cluster's workloads (only those in `namespaces`, when given); a cluster
    deleted meanwhile is not an error."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return 0
    scope = set(namespaces) if namespaces is not None else None
    return services.readiness_recompute(cluster=cluster, namespaces=scope).workloads


def readiness_recompute_soon(*, cluster_ids: Iterable[int], namespaces: Iterable[str] | None = None) -> None:
    """Queue a recompute of each cluster once the current transaction commits (after a sync wrote
    something, or a waiver changed), so the task reads what was committed.

    `namespaces`: only the workloads there changed (a watch's write). Those are gathered in
    Redis for a second, so that a watch writing four times a second costs one recompute of
    what changed meanwhile, not four.
    """
    scope = None if namespaces is None else sorted({n for n in namespaces if n})
    for cluster_id in cluster_ids:
        if scope is None:
            transaction.on_commit(lambda cluster_id=cluster_id: readiness_recompute.delay(cluster_id))
        elif scope:
            transaction.on_commit(lambda cluster_id=cluster_id: _gather(cluster_id, scope))


GATHER_SECONDS = 1.0


def _pending_keys(cluster_id: int) -> tuple[str, str]:
    return f"shirube:readiness-pending:{cluster_id}", f"shirube:readiness-queued:{cluster_id}"


def _gather(cluster_id: int, namespaces: list[str]) -> None:
    if not settings.REDIS_URL:
        readiness_recompute.delay(cluster_id, namespaces)
        return
    import redis

    pending, queued = _pending_keys(cluster_id)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.sadd(pending, *namespaces)
    client.expire(pending, 3600)
    # One task per gathering: the first change queues it, the next ones only add namespaces.
    if client.set(queued, "1", nx=True, ex=60):
        readiness_recompute_gathered.apply_async((cluster_id,), countdown=GATHER_SECONDS)


@shared_task(
    ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True,
    retry_jitter=True, max_retries=3,
)  # fmt: skip
def readiness_recompute_gathered(cluster_id: int) -> int:
    """Recompute the namespaces gathered for a cluster since the last run."""
    import redis

    pending, queued = _pending_keys(cluster_id)
    client = redis.Redis.from_url(settings.REDIS_URL)
    # The flag goes first: a change from now on queues the next run, and its namespace is either
    # taken here or left for that run; none is lost.
    client.delete(queued)
    pipe = client.pipeline(transaction=True)
    pipe.smembers(pending)
    pipe.delete(pending)
    namespaces = sorted(n.decode() for n in pipe.execute()[0])
    if not namespaces:
        return 0
    return readiness_recompute(cluster_id, namespaces)


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def readiness_snapshot() -> int:
    """Refresh every cluster (the 24-hour restart window slides without syncs), then today's scores."""
    for cluster in Cluster.objects.filter(enabled=True):
        services.readiness_recompute(cluster=cluster)
    return services.team_scores_snapshot()

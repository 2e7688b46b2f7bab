"""Waiting on the world outside (Flux, a rollout) one step per task run, never in a sleeping worker.

A step looks once, moves its row on if it can, and returns how many seconds to wait
before looking again, or None when there is nothing more to do. The task re-queues
itself with that countdown, so a wait of ten minutes holds no worker (with two worker
processes, two waits in a sleep loop stalled every other task). Each step records
when it ran (`polled_at`), so a chain lost with the broker (a restart, a purge) shows
as an unfinished row nobody stepped for a while: a watchdog queues it again.

Deployments (apps.environments.runner) and Flux actions (apps.clusters.flux_runner)
both run this way. Their rows carry `requested_at`, `polled_at` and a status.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

# A chain is lost when its row has not been stepped for five polls, and at least this long:
# a queued task can wait behind others on a busy worker without being lost.
STALLED_AFTER_SECONDS = 60


def step_taken(rows: QuerySet) -> None:
    """Record that a step of this row (a queryset of one) ran now: the watchdog's sign of life."""
    rows.update(polled_at=timezone.now())


def step_next(task, row_id: int, delay: float | None) -> str:
    """Queue the next step of `task` for this row after `delay` seconds; None: the chain ends."""
    if delay is None:
        return "finished"
    task.apply_async((row_id,), countdown=delay)
    return "continuing"


def steps_stalled(unfinished: QuerySet, *, poll_seconds: float) -> QuerySet:
    """The rows of `unfinished` nobody stepped for a while (or ever): their task chain was lost."""
    cutoff = timezone.now() - timedelta(seconds=max(STALLED_AFTER_SECONDS, 5 * poll_seconds))
    return unfinished.filter(polled_at__lt=cutoff) | unfinished.filter(
        polled_at__isnull=True, requested_at__lt=cutoff
    )


def chains_restart(task, row_ids: Iterable[int]) -> int:
    """Start the chain of each row again (its next step decides what is left to do)."""
    count = 0
    for row_id in row_ids:
        task.delay(row_id)
        count += 1
    return count


def past(since: datetime, seconds: float) -> bool:
    """Whether more than `seconds` have gone by since `since`: a step's deadline."""
    return timezone.now() - since > timedelta(seconds=seconds)

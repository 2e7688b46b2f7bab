"""A small limiter: at most N hits per key in a window, then the key is blocked for a while.

Used for failed password sign-ins (per user name and per address); written so that the
HTTP API and webhook receivers can count requests per token with it too. Its state is
a row per (scope, key) in the database, so every web process and worker sees one count,
with or without Redis, and a row lock makes parallel hits count one by one.

A blocked key stays blocked for `block` from the hit that reached the limit; hits while
it is blocked are refused without being counted, so the block always ends on time
(nobody can keep a key blocked by hammering it: they can only block it again, after it
ended, with another full set of hits).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Throttle


@dataclass(frozen=True)
class Limit:
    """`hits` per `window` for one key; reaching it blocks the key for `block` (or the rest of the window)."""

    scope: str
    hits: int
    window: timedelta
    block: timedelta = timedelta(0)


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    retry_after: int = 0  # seconds until the key is free again (when blocked)
    just_blocked: bool = False  # this hit reached the limit


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _blocked(row: Throttle | None, now: datetime) -> Verdict | None:
    if row is not None and row.blocked_until is not None and row.blocked_until > now:
        return Verdict(
            blocked=True, retry_after=max(1, int((row.blocked_until - now).total_seconds() + 0.999))
        )
    return None


def limit_check(*, limit: Limit, key: str, now: datetime | None = None) -> Verdict:
    """Whether `key` is blocked now; counts nothing."""
    now = now or timezone.now()
    row = Throttle.objects.filter(scope=limit.scope, key=_digest(key)).first()
    return _blocked(row, now) or Verdict(blocked=False)


@transaction.atomic
def limit_hit(*, limit: Limit, key: str, now: datetime | None = None) -> Verdict:
    """Count one hit for `key`; blocked if it already was, or if this hit reaches the limit."""
    now = now or timezone.now()
    row, _ = Throttle.objects.select_for_update().get_or_create(
        scope=limit.scope, key=_digest(key), defaults={"window_start": now, "hits": 0}
    )
    if blocked := _blocked(row, now):
        return blocked
    if now - row.window_start >= limit.window:
        row.window_start, row.hits = now, 0
    row.hits += 1
    if row.hits < limit.hits:
        row.save(update_fields=["window_start", "hits"])
        return Verdict(blocked=False)
    # Reached: blocked for `block`, or (a plain rate limit) until the window ends; counting restarts after.
    row.blocked_until = now + limit.block if limit.block else row.window_start + limit.window
    row.window_start, row.hits = row.blocked_until, 0
    row.save(update_fields=["window_start", "hits", "blocked_until"])
    return Verdict(blocked=True, retry_after=int((row.blocked_until - now).total_seconds() + 0.999),
                   just_blocked=True)  # fmt: skip


def limit_reset(*, limit: Limit, key: str) -> None:
    """Forget `key`'s hits and any block (a successful sign-in, an administrator's unlock)."""
    Throttle.objects.filter(scope=limit.scope, key=_digest(key)).delete()


def limits_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete rows whose window and block ended long ago; the number deleted."""
    cutoff = timezone.now() - older_than
    stale = Throttle.objects.filter(window_start__lt=cutoff).exclude(blocked_until__gt=cutoff)
    return stale.delete()[0]

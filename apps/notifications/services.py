"""Writes for notifications: enqueue (in the caller's transaction), send one delivery, recover, prefer, link.

Delivery is at least once. `delivery_attempt` marks a delivery `sending` (committed) before
it calls the channel and `sent` after: a worker killed before the mark leaves it pending
(sent once, later); killed between the mark and the answer, it leaves it `sending`, and
`deliveries_recover` sends it again once SENDING_TIMEOUT has passed: the one window where
a duplicate is possible, since neither Slack nor SMTP can deduplicate.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import Team
from apps.core.config_audit import config_change_record, config_snapshot
from apps.notifications.channels import CHANNELS, Permanent, Transient
from apps.notifications.kinds import KINDS, PERSONAL_CHANNELS
from apps.notifications.models import (
    Delivery,
    Notification,
    Preference,
    SlackLink,
    SlackLinkCode,
    StateWatch,
    Thread,
)

log = logging.getLogger(__name__)
Status = Delivery.Status

MAX_TRIES = 6
BACKOFF_FIRST_SECONDS = 10  # then doubling: 10, 20, 40, 80, 160 (at most BACKOFF_CAP_SECONDS)
BACKOFF_CAP_SECONDS = 600
# A delivery marked `sending` this long ago has lost its worker: longer than the task's hard
# time limit (tasks.SEND_TIME_LIMIT), so a slow worker is never mistaken for a dead one.
SENDING_TIMEOUT_SECONDS = 120
# A due delivery no worker took this long after it fell due: its task was lost (a worker
# killed before it took it, a broker restart). The sweep queues it again.
LOST_AFTER_SECONDS = 30
# What never gets out (Slack rate-limiting for a day, a thread whose root never went) fails.
GIVE_UP_AFTER = timedelta(hours=24)
LINK_CODE_MINUTES = 10


def _address(user: AbstractBaseUser, channel: str) -> str:
    if channel == "email":
        return user.email or ""
    if channel == "slack":
        link = SlackLink.objects.filter(user=user).first()
        return link.slack_user_id if link else ""
    return ""


def preference_enabled(user: AbstractBaseUser, kind: str, channel: str) -> bool:
    row = Preference.objects.filter(user=user, kind=kind, channel=channel).first()
    return row.enabled if row else True


def notification_enqueue(
    *, kind: str, title: str, text: str = "", link: str = "", team: Team | None = None,
    users: Iterable[AbstractBaseUser] = (), team_channel: bool = False, sre_channel: bool = False,
    slack_addresses: Iterable[str] = (), lines: Iterable[str] = (), actions: Iterable[dict] = (),
    thread_key: str = "", thread_root: bool = False, in_threads: bool = False, dedupe_key: str = "",
) -> Notification | None:  # fmt: skip
    """Write a notification and a delivery per address, inside the caller's transaction.

    People get it on each channel they have an address for and did not turn the kind off;
    `team_channel` adds the team's Slack channel, `sre_channel` SHIRUBE_SLACK_SRE_CHANNEL,
    `in_threads` every Slack thread opened with `thread_key`, and `thread_root` makes these
    deliveries the first message of such a thread. Sending is queued when the caller's
    transaction commits (never for an event rolled back). None when there is nobody to tell;
    the existing notification when `dedupe_key` was used before.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if dedupe_key and (existing := Notification.objects.filter(dedupe_key=dedupe_key).first()):
        return existing
    targets: dict[tuple[str, str], AbstractBaseUser | None] = {}
    for user in {u.pk: u for u in users if u is not None and u.is_active}.values():
        for channel in PERSONAL_CHANNELS:
            wanted = CHANNELS[channel].enabled() and preference_enabled(user, kind, channel)
            if wanted and (address := _address(user, channel)):
                targets.setdefault((channel, address), user)
    if CHANNELS["slack"].enabled():
        channels = list(slack_addresses)
        if team_channel and team is not None and team.slack_channel:
            channels.append(team.slack_channel)
        if sre_channel and settings.SHIRUBE_SLACK_SRE_CHANNEL:
            channels.append(settings.SHIRUBE_SLACK_SRE_CHANNEL)
        if in_threads and thread_key:
            channels += Thread.objects.filter(key=thread_key).values_list("address", flat=True)
        for address in channels:
            targets.setdefault(("slack", address), None)
    if not targets:
        return None
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin's dedupe key must not end the caller's
            notification = Notification.objects.create(
                kind=kind, team=team, title=title[:300], text=text, link=link[:500], lines=list(lines),
                actions=list(actions), thread_key=thread_key, dedupe_key=dedupe_key,
            )  # fmt: skip
    except IntegrityError:
        return Notification.objects.get(dedupe_key=dedupe_key)
    deliveries = Delivery.objects.bulk_create(
        Delivery(notification=notification, channel=channel, address=address, user=user)
        for (channel, address), user in targets.items()
    )
    if thread_root and thread_key:
        for delivery in deliveries:
            if delivery.channel == "slack":
                Thread.objects.get_or_create(key=thread_key, address=delivery.address,
                                             defaults={"root": delivery})  # fmt: skip
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: deliveries_queue(ids))
    return notification


def deliveries_queue(ids: Iterable[int]) -> None:
    from apps.notifications.tasks import delivery_send

    for delivery_id in ids:
        delivery_send.delay(delivery_id)


def _pause_key(channel: str) -> str:
    return f"notifications:paused:{channel}"


def channel_paused_until(channel: str):
    """When a channel said "slow down" (Slack's 429): every delivery on it waits until then."""
    return cache.get(_pause_key(channel))


def backoff_seconds(attempts: int) -> float:
    """10 s after the first try, doubling, capped at 10 minutes; with a little jitter so retries spread."""
    base = min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    return min(base * random.uniform(1.0, 1.2), BACKOFF_CAP_SECONDS)


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Try one delivery once; the seconds until it should be tried again, or None when it is done.

    Runs outside any transaction: the `sending` mark must be committed before the call.
    """
    delivery = Delivery.objects.select_related("notification").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Status.PENDING:
        return None  # done, or another worker holds it (a dead one's is recovered by the sweep)
    now = timezone.now()
    if delivery.next_attempt_at > now:
        return (delivery.next_attempt_at - now).total_seconds()
    channel = CHANNELS.get(delivery.channel)
    if channel is None or not channel.enabled():
        _fail(delivery, f"The {delivery.channel} channel is not configured.", status=Status.PENDING)
        return None
    paused = channel_paused_until(delivery.channel)
    if paused and paused > now:
        Delivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(next_attempt_at=paused)
        return (paused - now).total_seconds()
    claimed = Delivery.objects.filter(pk=delivery.pk, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, sending_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None  # another worker took it first
    delivery.refresh_from_db()
    try:
        result = channel.send(delivery)
    except Transient as exc:
        return _retry(delivery, exc)
    except Permanent as exc:
        _fail(delivery, str(exc))
        return None
    except Exception as exc:  # an adapter's bug must not leave the delivery `sending` until the sweep
        log.exception("delivery %s on %s failed unexpectedly", delivery.pk, delivery.channel)
        return _retry(delivery, Transient(f"Unexpected error: {type(exc).__name__}"))
    Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), result=result, last_error=""
    )
    if ts := result.get("ts"):
        Thread.objects.filter(root_id=delivery.pk, ts="").update(ts=ts)
    return None


def _retry(delivery: Delivery, exc: Transient) -> float | None:
    now = timezone.now()
    if not exc.counts:
        if now - delivery.created_at > GIVE_UP_AFTER:
            _fail(delivery, f"Not sent within {GIVE_UP_AFTER}: {exc}")
            return None
        delay = exc.retry_after or BACKOFF_FIRST_SECONDS
        if exc.retry_after and delivery.channel == "slack" and "rate limit" in str(exc):
            cache.set(_pause_key(delivery.channel), now + timedelta(seconds=delay), timeout=int(delay) + 1)
        attempts = F("attempts") - 1  # not the delivery's failure: the try is given back
    else:
        if delivery.attempts >= MAX_TRIES:
            _fail(delivery, f"Gave up after {delivery.attempts} tries: {exc}")
            return None
        delay = min(max(backoff_seconds(delivery.attempts), exc.retry_after or 0), BACKOFF_CAP_SECONDS)
        attempts = F("attempts")
    Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
        status=Status.PENDING, next_attempt_at=now + timedelta(seconds=delay), last_error=str(exc)[:2000],
        attempts=attempts,
    )  # fmt: skip
    return delay


def _fail(delivery: Delivery, message: str, *, status: str = Status.SENDING) -> None:
    Delivery.objects.filter(pk=delivery.pk, status=status).update(
        status=Status.FAILED, last_error=message[:2000]
    )
    log.warning("delivery %s (%s to %s) failed: %s", delivery.pk, delivery.channel, delivery.address, message)


def deliveries_recover() -> int:
    """Send again what a dead worker held (`sending` too long) and queue what no worker took; how many.

    A delivery left `sending` may have reached its channel before the worker died: sending it
    again is the one duplicate at-least-once allows, and it counts as a try.
    """
    now = timezone.now()
    abandoned = Delivery.objects.filter(
        status=Status.SENDING, sending_at__lt=now - timedelta(seconds=SENDING_TIMEOUT_SECONDS)
    )
    again = []
    for delivery in abandoned:
        last = delivery.attempts >= MAX_TRIES
        reset = Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING, sending_at=delivery.sending_at)
        updated = reset.update(
            status=Status.FAILED if last else Status.PENDING, next_attempt_at=now,
            last_error="The worker sending it stopped before it recorded the answer"
            + ("; no tries left." if last else "; sending again (it may arrive twice)."),
        )  # fmt: skip
        if updated and not last:
            again.append(delivery.pk)
    lost = list(
        Delivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lt=now - timedelta(seconds=LOST_AFTER_SECONDS)
        ).values_list("pk", flat=True)[:5000]
    )
    deliveries_queue(again + lost)
    return len(again) + len(lost)


def delivery_retry(*, delivery: Delivery) -> bool:
    """An SRE sends a failed delivery again, with a fresh set of tries."""
    retried = Delivery.objects.filter(pk=delivery.pk, status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    if retried:
        transaction.on_commit(lambda: deliveries_queue([delivery.pk]))
    return bool(retried)


def deliveries_prune(*, days: int) -> int:
    """Notifications older than `days` go, with their deliveries (the SRE page shows recent ones)."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Notification.objects.filter(created_at__lt=cutoff).delete()
    Thread.objects.filter(created_at__lt=cutoff).delete()
    SlackLinkCode.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


# -- State changes, debounced ----------------------------------------------------------------------


def _payload_enqueue(payload: dict) -> Notification | None:
    team = Team.objects.filter(pk=payload.get("team_id")).first() if payload.get("team_id") else None
    args = {k: v for k, v in payload.items() if k != "team_id"}
    return notification_enqueue(team=team, **args)


@transaction.atomic
def state_change_notify(
    *, key: str, state: str, quiet_seconds: int, payload: dict, tell_first: bool = False
) -> Notification | None:
    """Tell that `key` is now in `state` (payload: notification_enqueue's arguments, team as team_id).

    Once per change of state and at most once per `quiet_seconds` per key: a change inside the
    quiet period is kept and told when it ends (`state_changes_flush`), unless the state came
    back to what was last told. A key seen for the first time is recorded silently unless
    `tell_first`.
    """
    now = timezone.now()
    watch = StateWatch.objects.select_for_update().filter(key=key).first()
    if watch is None:
        watch = StateWatch(
            key=key, state=state, quiet_seconds=quiet_seconds, notified_state="" if tell_first else state
        )
        if not tell_first:
            watch.save()
            return None
    if watch.state != state:
        watch.state, watch.changed_at = state, now
    watch.quiet_seconds = quiet_seconds
    if state == watch.notified_state:
        watch.pending = {}
        watch.save()
        return None
    if watch.notified_at and now - watch.notified_at < timedelta(seconds=quiet_seconds):
        watch.pending = payload
        watch.save()
        return None
    watch.notified_state, watch.notified_at, watch.pending = state, now, {}
    watch.save()
    return _payload_enqueue(payload)


def state_changes_flush() -> int:
    """Tell the changes that waited for their quiet period to end (beat, every minute); how many."""
    now = timezone.now()
    told = 0
    for watch_id in StateWatch.objects.exclude(pending={}).values_list("pk", flat=True):
        with transaction.atomic():
            watch = StateWatch.objects.select_for_update().get(pk=watch_id)
            due = watch.notified_at is None or now - watch.notified_at >= timedelta(
                seconds=watch.quiet_seconds
            )
            if not watch.pending or not due:
                continue
            payload, watch.pending = watch.pending, {}
            if watch.state != watch.notified_state:
                watch.notified_state, watch.notified_at = watch.state, now
                told += _payload_enqueue(payload) is not None
            watch.save()
    return told


def preference_set(*, user: AbstractBaseUser, kind: str, channel: str, enabled: bool) -> Preference:
    if kind not in KINDS or not KINDS[kind].personal or channel not in PERSONAL_CHANNELS:
        raise ValueError(f"no preference for {kind!r} on {channel!r}")
    row, _ = Preference.objects.update_or_create(
        user=user, kind=kind, channel=channel, defaults={"enabled": enabled}
    )
    return row


# -- Slack accounts ------------------------------------------------------------------------------


class LinkRefused(Exception):
    """The Slack account cannot be linked this way; the message says why and what to do."""


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def slack_link_code_create(*, user: AbstractBaseUser) -> str:
    """A one-time code for `/shirube link CODE`, valid LINK_CODE_MINUTES; only its hash is kept."""
    code = "-".join(secrets.token_hex(3).upper() for _ in range(2))
    SlackLinkCode.objects.filter(user=user, used_at__isnull=True).delete()  # one open code per person
    SlackLinkCode.objects.create(
        user=user,
        code_hash=_code_hash(code),
        expires_at=timezone.now() + timedelta(minutes=LINK_CODE_MINUTES),
    )
    return code


def _link(*, user: AbstractBaseUser, slack_team_id: str, slack_user_id: str, via: str) -> SlackLink:
    existing = SlackLink.objects.filter(slack_team_id=slack_team_id, slack_user_id=slack_user_id).first()
    if existing is not None and existing.user_id != user.pk:
        raise LinkRefused("This Slack account is linked to another Shirube user; unlink it there first.")
    current = SlackLink.objects.filter(user=user).first()
    before = config_snapshot(current)
    link, created = SlackLink.objects.update_or_create(
        user=user, defaults={"slack_team_id": slack_team_id, "slack_user_id": slack_user_id, "via": via}
    )
    # Who acts in chat is who may deploy from it: an audit event, like a membership change.
    config_change_record(by=user, instance=link, verb="created" if created else "changed", before=before)
    return link


@transaction.atomic
def slack_link_by_code(*, code: str, slack_team_id: str, slack_user_id: str) -> SlackLink:
    now = timezone.now()
    row = SlackLinkCode.objects.select_for_update().filter(code_hash=_code_hash(code)).first()
    if row is None or row.used_at is not None or row.expires_at <= now or not row.user.is_active:
        raise LinkRefused(
            "That code is unknown, used or expired: get a new one on your Shirube settings page."
        )
    row.used_at = now
    row.save(update_fields=["used_at"])
    return _link(user=row.user, slack_team_id=slack_team_id, slack_user_id=slack_user_id, via="code")


@transaction.atomic
def slack_link_by_email(*, slack_team_id: str, slack_user_id: str, email: str, confirmed: bool) -> SlackLink:
    """Link through the e-mail address Slack has confirmed, when exactly one active user has it."""
    from django.contrib.auth import get_user_model

    if not settings.SHIRUBE_SLACK_LINK_BY_EMAIL:
        raise LinkRefused("Linking by e-mail is off here.")
    if not confirmed or not email:
        raise LinkRefused("Slack has no confirmed e-mail address for you.")
    users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    if len(users) != 1:
        raise LinkRefused("Your Slack e-mail address matches no single Shirube user.")
    return _link(user=users[0], slack_team_id=slack_team_id, slack_user_id=slack_user_id, via="email")


@transaction.atomic
def slack_unlink(*, user: AbstractBaseUser) -> bool:
    link = SlackLink.objects.filter(user=user).first()
    if link is None:
        return False
    before = config_snapshot(link)
    config_change_record(by=user, instance=link, verb="deleted", before=before)
    link.delete()
    return True

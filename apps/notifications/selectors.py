"""Reads for the notification pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet

from apps.notifications.kinds import KINDS, PERSONAL_CHANNELS
from apps.notifications.models import Delivery, Notification, Preference, SlackLink, StateWatch


@dataclass
class PreferenceRow:
    kind: str
    label: str
    channels: list[tuple[str, bool]]  # (channel, enabled)


def preferences_for(*, user: AbstractBaseUser) -> list[PreferenceRow]:
    chosen = {(p.kind, p.channel): p.enabled for p in Preference.objects.filter(user=user)}
    return [
        PreferenceRow(kind.key, kind.label, [(c, chosen.get((kind.key, c), True)) for c in PERSONAL_CHANNELS])
        for kind in KINDS.values()
        if kind.personal
    ]


def slack_link_for(*, user: AbstractBaseUser) -> SlackLink | None:
    return SlackLink.objects.filter(user=user).first()


def deliveries_recent(*, status: str = "", limit: int = 200) -> QuerySet[Delivery]:
    rows = Delivery.objects.select_related("notification", "user").order_by("-created_at", "-id")
    if status:
        rows = rows.filter(status=status)
    return rows[:limit]


def delivery_counts() -> dict[str, int]:
    counts = Delivery.objects.aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in Delivery.Status.values}
    )
    return {status: counts[status] for status in Delivery.Status.values}


def last_notification_at(*, kind: str, team_id: int | None = None):
    """When the newest notification of this kind (for this team) was written, or None: a digest's window."""
    rows = Notification.objects.filter(kind=kind)
    if team_id is not None:
        rows = rows.filter(team_id=team_id)
    newest = rows.order_by("-created_at").first()
    return newest.created_at if newest else None


def watched_states(*, prefix: str) -> dict[str, str]:
    """The last recorded state of every watched key starting with `prefix` (one query)."""
    return dict(StateWatch.objects.filter(key__startswith=prefix).values_list("key", "state"))

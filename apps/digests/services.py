"""The daily digests: new high-severity readiness findings per team, and readers stuck on lessons.

A floor-5 app because each digest reads one app's data (readiness, lessons) and writes the
outbox: lessons sits beside notifications on floor 2, so it cannot write there itself, and a
daily query needs no signal. Each digest covers the 24 hours before it runs and carries a
dedupe key per day, so a beat that fires twice sends it once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Team
from apps.lessons.models import StuckFlag
from apps.notifications.services import notification_enqueue
from apps.readiness.models import Finding
from apps.readiness.rules import RULES

WINDOW = timedelta(hours=24)


def readiness_digest_send(*, now: datetime | None = None) -> int:
    """One message per team with new high-severity findings (first seen in the window), to its channel."""
    now = now or timezone.now()
    day = now.date().isoformat()
    findings = (
        Finding.objects.active(now)
        .filter(severity="high", first_seen__gte=now - WINDOW, first_seen__lt=now, team__isnull=False)
        .order_by("team_id", "namespace", "workload_name", "rule")
    )
    by_team: dict[int, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_team[finding.team_id].append(finding)
    sent = 0
    for team in Team.objects.filter(pk__in=by_team):
        rows = by_team[team.pk]
        lines = [
            f"{f.namespace}/{f.workload_name}: {RULES[f.rule].title if f.rule in RULES else f.rule}"
            + (f" ({f.detail[:200]})" if f.detail else "")
            for f in rows
        ]
        plural = "s" if len(rows) != 1 else ""
        notification = notification_enqueue(
            kind="readiness.digest", team=team, team_channel=True, lines=lines,
            title=f"{team.name}: {len(rows)} new high-severity readiness finding{plural}",
            link=reverse("readiness:team", args=[team.slug]), dedupe_key=f"readiness-digest:{team.pk}:{day}",
        )  # fmt: skip
        sent += notification is not None
    return sent


def stuck_digest_send(*, now: datetime | None = None) -> int:
    """Per lesson owner (or the SRE channel for lessons without one): how many readers got stuck where.

    Counts only, never who: stuck flags reach people as counts (docs/security.md); SREs
    read the comments on the team-progress page the message links to.
    """
    now = now or timezone.now()
    day = now.date().isoformat()
    counts = (
        StuckFlag.objects.filter(created_at__gte=now - WINDOW, created_at__lt=now)
        .values("lesson_id", "lesson__title", "lesson__owner_id")
        .annotate(readers=Count("user", distinct=True))
        .order_by("-readers", "lesson__title")
    )
    by_owner: dict[int | None, list[str]] = defaultdict(list)
    for row in counts:
        n = row["readers"]
        by_owner[row["lesson__owner_id"]].append(
            f"“{row['lesson__title']}”: {n} reader{'s' if n != 1 else ''}"
        )
    from django.contrib.auth import get_user_model

    owners = {
        u.pk: u for u in get_user_model().objects.filter(pk__in=[k for k in by_owner if k], is_active=True)
    }
    sent = 0
    link = reverse("lessons:teams")
    for owner_id, lines in by_owner.items():
        owner = owners.get(owner_id)
        title = f"Readers got stuck on {len(lines)} lesson{'s' if len(lines) != 1 else ''} in the last day"
        if owner is not None:
            notification = notification_enqueue(
                kind="stuck.digest", title=title, lines=lines, link=link, users=[owner],
                dedupe_key=f"stuck-digest:{owner.pk}:{day}",
            )  # fmt: skip
        else:
            notification = notification_enqueue(
                kind="stuck.digest", title=title + " (lessons without an owner)", lines=lines, link=link,
                sre_channel=True, dedupe_key=f"stuck-digest:sre:{day}",
            )  # fmt: skip
        sent += notification is not None
    return sent

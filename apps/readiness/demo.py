"""Demo history for `make run`: a month of daily scores, so the trend chart means something."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Team
from apps.readiness.models import TeamScore

# team slug -> (score 29 days ago, score yesterday): payments improving, search flat.
DEMO_TRENDS = {"payments": (42, 61), "search": (58, 57)}


def readiness_demo_backfill(*, days: int = 29) -> int:
    """Invent a plausible score per demo team for each of the last `days` days; keeps real snapshots."""
    today = timezone.localdate()
    written = 0
    for team in Team.objects.filter(slug__in=DEMO_TRENDS):
        start, end = DEMO_TRENDS[team.slug]
        for n in range(days):
            day = today - timedelta(days=days - n)
            wobble = (-2, 1, 0, 2, -1)[n % 5]  # a rollout fixes things, a new service breaks some
            score = round(start + (end - start) * n / max(days - 1, 1)) + (wobble if 0 < n < days - 1 else 0)
            _, created = TeamScore.objects.get_or_create(team=team, day=day, defaults={"score": score})
            written += created
    return written

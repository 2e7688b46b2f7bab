"""Demo data for `make run`: known users and passwords, so never in production."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import Membership

DEMO_USERS = [
    # username, team slug, role, description
    ("alice", "payments", Membership.Role.MEMBER, "developer, team payments"),
    ("bob", "search", Membership.Role.MEMBER, "developer, team search"),
    ("carol", "payments", Membership.Role.LEAD, "lead of payments"),
    ("sre", None, None, "SRE, admin access"),
]
DEMO_TEAMS = [("payments", "Payments"), ("search", "Search")]


def demo_allowed() -> None:
    """Refuse unless SHIRUBE_DEMO is on and the database is SQLite: the passwords are public."""
    if not settings.SHIRUBE_DEMO:
        raise ImproperlyConfigured("Demo data is refused: SHIRUBE_DEMO is off (make run sets it).")
    if connection.vendor != "sqlite":
        raise ImproperlyConfigured(
            f"Demo data is refused on {connection.vendor}: it is for the local SQLite database only."
        )


@transaction.atomic
def demo_seed(*, password: str) -> list[tuple[str, str]]:
    """Create (or reset) the demo teams and users; idempotent."""
    demo_allowed()
    teams = {slug: services.team_ensure(slug=slug, name=name) for slug, name in DEMO_TEAMS}
    created = []
    for username, team_slug, role, description in DEMO_USERS:
        user = services.user_ensure(username=username, password=password, first_name=username.capitalize())
        if team_slug:
            services.membership_set(user=user, team=teams[team_slug], role=role)
        else:
            services.user_make_sre(user=user)
        created.append((username, description))
    _demo_progress()
    return created


def _demo_progress() -> None:
    """A little history so that the team progress page has something to show."""
    from django.contrib.auth import get_user_model

    from apps.lessons.models import Lesson, Progress, QuizAttempt, StuckFlag

    User = get_user_model()
    lessons = list(Lesson.objects.visible().order_by("phase__order", "order")[:6])
    if not lessons:
        return
    carol, bob = User.objects.get(username="carol"), User.objects.get(username="bob")
    now = timezone.now()
    for index, lesson in enumerate(lessons):
        Progress.objects.get_or_create(
            user=carol,
            lesson=lesson,
            defaults={
                "status": Progress.Status.COMPLETED,
                "started_at": now - timedelta(days=10 - index),
                "completed_at": now - timedelta(days=9 - index),
            },
        )
    first = lessons[0]
    Progress.objects.get_or_create(user=bob, lesson=first, defaults={"started_at": now})
    if not QuizAttempt.objects.filter(user=bob, lesson=first).exists():
        QuizAttempt.objects.create(user=bob, lesson=first, passed=False, score=1, total=4)
    if not StuckFlag.objects.filter(user=bob, lesson=first).exists():
        StuckFlag.objects.create(user=bob, lesson=first, comment="Which of these applies to our batch jobs?")

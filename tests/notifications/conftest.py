from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Delivery, SlackLink
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.harness.notify_fixtures import _slack_server, _smtp_server, slack, smtp  # noqa: F401


def drain(*, rounds: int = 20, skip_waits: bool = True) -> int:
    """Run every due delivery, oldest first as workers would, until none is due; `skip_waits` moves backoff waits
    to now instead of sleeping through them. Returns how many attempts ran."""
    ran = 0
    for _ in range(rounds):
        if skip_waits:
            Delivery.objects.filter(status="pending").update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
        due = list(Delivery.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True))
        if not due:
            break
        for pk in due:
            services.delivery_attempt(delivery_id=pk)
            ran += 1
    return ran


@pytest.fixture
def team(db):
    return TeamFactory(slug="payments", name="Payments", slack_channel="C0PAYMENTS")


def person(team, username: str, role: str, slack_user_id: str):
    """A team member with an e-mail address and a linked Slack account."""
    user = UserFactory(username=username, email=f"{username}@example.com")
    MembershipFactory(user=user, team=team, role=role)
    SlackLink.objects.create(user=user, slack_team_id="T0SHIRUBE", slack_user_id=slack_user_id, via="code")
    return user


@pytest.fixture
def lead(team):
    return person(team, "carol", "lead", "U0CAROL")


@pytest.fixture
def member(team):
    return person(team, "alice", "member", "U0ALICE")

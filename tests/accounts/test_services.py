"""Services that change teams and roles outside the admin: each change is an audit event."""

from __future__ import annotations

import pytest

from apps.accounts import services
from apps.audit.models import AuditEvent
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_membership_set_records_a_new_member_and_a_new_role_once():
    team, dana, carol = (
        TeamFactory(slug="payments"),
        UserFactory(username="dana"),
        UserFactory(username="carol"),
    )
    services.membership_set(user=dana, team=team, role="member", by=carol)
    services.membership_set(user=dana, team=team, role="member", by=carol)  # no change: no event
    services.membership_set(user=dana, team=team, role="lead", by=carol)
    events = list(AuditEvent.objects.filter(action="config.membership").order_by("id"))
    assert [(e.outcome, e.parameters["changes"].get("role")) for e in events] == [
        ("created", ["", "member"]),
        ("changed", ["member", "lead"]),
    ]
    assert all(e.team == team and e.actor == carol for e in events)


def test_making_an_sre_is_recorded_with_the_system_as_actor_when_no_one_is_named():
    dana = UserFactory(username="dana")
    services.user_make_sre(user=dana)
    event = AuditEvent.objects.get(action="config.user")
    assert event.actor_name == "system" and event.target == "dana"
    assert event.parameters["changes"]["groups"] == {"added": ["sre"], "removed": []}
    assert event.parameters["changes"]["is_staff"] == ["False", "True"]
    services.user_make_sre(user=dana)
    assert AuditEvent.objects.filter(action="config.user").count() == 1

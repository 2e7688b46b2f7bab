"""Teams, memberships, users and groups in the admin: every change of who may do what is audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.accounts.models import Membership
from apps.audit.models import AuditEvent
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_adding_a_member_is_an_audit_event_of_the_team(client_for, sre):
    team, dana = TeamFactory(slug="payments"), UserFactory(username="dana")
    response = client_for(sre).post(
        "/admin/accounts/membership/add/", {"user": dana.pk, "team": team.pk, "role": "member"}
    )
    assert response.status_code == 302
    (event,) = events("config.membership")
    assert (event.outcome, event.team, event.target, event.actor) == ("created", team, "payments/dana", sre)
    assert event.parameters["changes"]["role"] == ["", "member"]


def test_making_someone_a_lead_and_removing_them_are_audit_events(client_for, sre):
    membership = MembershipFactory(team=TeamFactory(slug="payments"), user=UserFactory(username="dana"))
    client = client_for(sre)
    url = f"/admin/accounts/membership/{membership.pk}/change/"
    client.post(url, {"user": membership.user_id, "team": membership.team_id, "role": "lead"})
    client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    changed, deleted = events("config.membership")
    assert changed.outcome == "changed" and changed.parameters["changes"] == {"role": ["member", "lead"]}
    assert changed.message == "role: member → lead"
    assert deleted.outcome == "deleted" and deleted.target == "payments/dana" and deleted.team_id
    assert not Membership.objects.exists()


def test_saving_without_a_change_records_nothing(client_for, sre):
    membership = MembershipFactory(role="lead")
    client_for(sre).post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": membership.user_id, "team": membership.team_id, "role": "lead"},
    )
    assert not events("config.membership")


def test_members_added_and_removed_on_the_team_page_are_audited(client_for, sre):
    team = TeamFactory(slug="payments", name="Payments")
    staying = MembershipFactory(team=team, user=UserFactory(username="erin"))
    leaving = MembershipFactory(team=team, user=UserFactory(username="dana"))
    newcomer = UserFactory(username="frank")
    data = {
        "slug": "payments", "name": "Payments",
        "memberships-TOTAL_FORMS": "3", "memberships-INITIAL_FORMS": "2",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": staying.pk, "memberships-0-team": team.pk, "memberships-0-user": staying.user_id,
        "memberships-0-role": "lead",
        "memberships-1-id": leaving.pk, "memberships-1-team": team.pk, "memberships-1-user": leaving.user_id,
        "memberships-1-role": "member", "memberships-1-DELETE": "on",
        "memberships-2-team": team.pk, "memberships-2-user": newcomer.pk, "memberships-2-role": "member",
    }  # fmt: skip
    response = client_for(sre).post(f"/admin/accounts/team/{team.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    got = {(e.outcome, e.target) for e in events("config.membership")}
    assert got == {("created", "payments/frank"), ("changed", "payments/erin"), ("deleted", "payments/dana")}
    assert all(e.team == team for e in events("config.membership"))


def test_deleting_a_team_is_an_audit_event(client_for, sre):
    team = TeamFactory(slug="payments")
    client_for(sre).post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"})
    (event,) = events("config.team")
    assert (event.outcome, event.target, event.team) == ("deleted", "payments", None)


def test_making_someone_staff_and_an_sre_in_the_user_admin_is_audited(client_for, root):
    from apps.accounts.services import sre_group_ensure

    group = sre_group_ensure()
    dana = UserFactory(username="dana")
    response = client_for(root).post(
        f"/admin/auth/user/{dana.pk}/change/",
        {
            "username": "dana", "first_name": "", "last_name": "", "email": "", "is_active": "on",
            "is_staff": "on", "groups": [group.pk], "user_permissions": [],
            "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    (event,) = events("config.user")
    assert event.target == "dana" and event.actor == root
    assert event.parameters["changes"] == {
        "is_staff": ["False", "True"],
        "groups": {"added": ["sre"], "removed": []},
    }
    assert "password" not in str(event.parameters) and "pbkdf2" not in event.message.lower()


def test_changing_a_groups_permissions_is_audited(client_for, root):
    from django.contrib.auth.models import Permission

    group = Group.objects.create(name="readers")
    permission = Permission.objects.get(codename="view_team")
    client_for(root).post(
        f"/admin/auth/group/{group.pk}/change/", {"name": "readers", "permissions": [permission.pk]}
    )
    (event,) = events("config.group")
    assert event.parameters["changes"]["permissions"]["added"] == [str(permission)]


def test_a_teams_slack_channel_is_set_in_the_admin_and_a_channel_name_is_refused(client_for, sre):
    team = TeamFactory(slug="payments", name="Payments")
    form = {
        "slug": "payments", "name": "Payments", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    url = f"/admin/accounts/team/{team.pk}/change/"
    refused = client_for(sre).post(url, {**form, "slack_channel": "#payments"})
    assert refused.status_code == 200 and "A Slack channel id: C0123ABCD." in refused.content.decode()
    team.refresh_from_db()
    assert team.slack_channel == ""
    assert client_for(sre).post(url, {**form, "slack_channel": "C0PAYMENTS"}).status_code == 302
    team.refresh_from_db()
    assert team.slack_channel == "C0PAYMENTS"

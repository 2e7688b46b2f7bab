import pytest
from django.contrib.auth.models import AnonymousUser

from apps.accounts import permissions
from apps.accounts.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_sres_are_the_sre_group(sre):
    assert permissions.is_sre(sre)
    assert not permissions.is_sre(UserFactory())
    assert not permissions.is_sre(AnonymousUser())


def test_a_lead_sees_progress_for_the_teams_they_lead_only():
    led, other = TeamFactory(), TeamFactory()
    lead = MembershipFactory(team=led, role=Membership.Role.LEAD).user
    MembershipFactory(team=other, user=lead, role=Membership.Role.MEMBER)
    assert permissions.can_see_team_progress(lead)
    assert permissions.team_progress_scope(lead) == [led]
    assert not permissions.can_read_stuck_comments(lead)


def test_a_member_sees_no_team_progress():
    member = MembershipFactory().user
    assert not permissions.can_see_team_progress(member)
    assert permissions.team_progress_scope(member) == []


def test_sres_see_every_team_and_the_comments(sre):
    teams = {TeamFactory(), TeamFactory()}
    assert set(permissions.team_progress_scope(sre)) == teams
    assert permissions.can_read_stuck_comments(sre)
    assert permissions.can_edit_lessons(sre)


def test_the_sre_group_grants_lesson_permissions_but_not_superuser(sre):
    assert not sre.is_superuser and sre.is_staff
    assert sre.has_perm("lessons.change_lesson")
    assert not sre.has_perm("auth.delete_user")


def test_every_signed_in_user_reads_every_team_unless_pages_are_for_members_only(settings, sre):
    team, other = TeamFactory(), TeamFactory()
    member = MembershipFactory(team=team).user
    assert permissions.can_read_team(member, other) and not permissions.reads_only_own_teams(member)
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    assert permissions.reads_only_own_teams(member)
    assert permissions.can_read_team(member, team) and not permissions.can_read_team(member, other)
    assert permissions.can_read_team(sre, other) and not permissions.reads_only_own_teams(sre)
    assert not permissions.can_read_team(AnonymousUser(), team)

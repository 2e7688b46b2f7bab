"""The team a page is about, and the teams a user may open."""

from __future__ import annotations

import pytest
from django.http import Http404

from apps.accounts.selectors import team_get, teams_for_listing
from tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_team_get_finds_a_team_and_404s_an_unknown_one():
    team = TeamFactory(slug="payments")
    user = MembershipFactory().user
    assert team_get(slug="payments", user=user) == team
    with pytest.raises(Http404):
        team_get(slug="nope", user=user)


def test_in_members_only_mode_another_teams_page_is_a_404_and_it_is_not_listed(settings, sre):
    mine, other = TeamFactory(slug="mine"), TeamFactory(slug="other")
    user = MembershipFactory(team=mine).user
    assert teams_for_listing(user=user) == ([mine], [other])
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    assert teams_for_listing(user=user) == ([mine], [])
    with pytest.raises(Http404):
        team_get(slug="other", user=user)
    assert team_get(slug="other", user=sre) == other
    assert teams_for_listing(user=sre) == ([], [mine, other])

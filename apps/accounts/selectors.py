"""Reads for teams: which a user may open, and the team a page is about."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import can_read_team, reads_only_own_teams


def teams_for_listing(*, user: AbstractBaseUser) -> tuple[list[Team], list[Team]]:
    """(the user's teams, the other teams they may read)."""
    mine_ids = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    teams = list(Team.objects.all())
    mine = [t for t in teams if t.pk in mine_ids]
    others = [] if reads_only_own_teams(user) else [t for t in teams if t.pk not in mine_ids]
    return mine, others


def team_get(*, slug: str, user: AbstractBaseUser) -> Team:
    """The team a page is about; 404 when there is none, or when the user may not read it."""
    team = Team.objects.filter(slug=slug).first()
    if team is None or not can_read_team(user, team):
        raise Http404("No such team")
    return team

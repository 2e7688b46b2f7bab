"""Readiness pages: a team's scorecard, and every team side by side for SREs."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.permissions import is_sre
from apps.accounts.selectors import team_get
from apps.clusters.models import Cluster
from apps.clusters.selectors.team import freshness, team_clusters
from apps.readiness import selectors
from apps.readiness.rules import RULES


@require_GET
def team_readiness(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    card = selectors.team_scorecard(team=team)
    # The score is only as fresh as the sync it was computed after: say how fresh that is.
    fresh = [freshness(c) for c in team_clusters(team=team)]
    context = {"team": team, "card": card, "rules": RULES.values(), "freshness": fresh}
    return render(request, "readiness/team.html", context)


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    if not is_sre(request.user):
        raise PermissionDenied("The all-teams readiness view is for SREs.")
    lines = selectors.teams_overview()
    lessons = selectors.rule_lessons()
    rules = [(rule, lessons.get(rule.id)) for rule in RULES.values()]
    fresh = [freshness(c) for c in Cluster.objects.filter(enabled=True)]
    return render(request, "readiness/overview.html", {"lines": lines, "rules": rules, "freshness": fresh})

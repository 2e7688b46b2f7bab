"""Readiness pages: a team's scorecard, and every team side by side for SREs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import is_sre
from apps.accounts.selectors import team_get
from apps.clusters.models import Cluster
from apps.clusters.selectors.team import freshness, team_clusters
from apps.core import inputs, timefmt
from apps.readiness import selectors, services
from apps.readiness.models import Finding
from apps.readiness.rules import RULES


def _scorecard(request: HttpRequest, team, *, status: int = 200, **extra) -> HttpResponse:
    card = selectors.team_scorecard(team=team)
    # The score is only as fresh as the sync it was computed after: say how fresh that is.
    fresh = [freshness(c) for c in team_clusters(team=team)]
    context = {
        "team": team, "card": card, "rules": RULES.values(), "freshness": fresh,
        "waiver_days": services.WAIVER_DAYS, **extra,
    }  # fmt: skip
    return render(request, "readiness/team.html", context, status=status)


@require_GET
def team_readiness(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    return _scorecard(request, team)


@require_POST
def finding_waive(request: HttpRequest, team_slug: str, finding_id: int) -> HttpResponse:
    """An SRE waives one finding from the scorecard (waivers change every score they touch)."""
    team = team_get(slug=team_slug, user=request.user)
    if not is_sre(request.user):
        raise PermissionDenied("Only SREs waive findings.")
    finding = get_object_or_404(Finding, pk=finding_id, team=team)
    reason = request.POST.get("reason", "")
    try:
        waiver = services.finding_waive(
            finding=finding, by=request.user, reason=reason, days=request.POST.get("days", "")
        )
    except inputs.InvalidInput as exc:
        # The scorecard again, the form open at that finding with what was typed and what is wrong.
        return _scorecard(
            request, team, status=400, waive={"finding": finding.pk, "error": exc.message, "reason": reason}
        )
    messages.success(
        request,
        f"{RULES[finding.rule].title} waived for {finding.namespace}/{finding.workload_name} "
        f"until {timefmt.day(waiver.expires_at)}.",
    )
    anchor = f"finding-{finding.namespace}-{finding.workload_name}-{finding.rule}"
    return redirect(reverse("readiness:team", args=[team.slug]) + f"#{anchor}")


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    if not is_sre(request.user):
        raise PermissionDenied("The all-teams readiness view is for SREs.")
    lines = selectors.teams_overview()
    lessons = selectors.rule_lessons()
    rules = [(rule, lessons.get(rule.id)) for rule in RULES.values()]
    fresh = [freshness(c) for c in Cluster.objects.filter(enabled=True)]
    return render(request, "readiness/overview.html", {"lines": lines, "rules": rules, "freshness": fresh})

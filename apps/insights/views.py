"""Are the lessons working: for SREs (every team) and leads (their teams), counts and spreads only."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.permissions import can_see_team_progress, is_sre, team_progress_scope
from apps.insights.selectors import insights_page


@require_GET
def lessons_working(request: HttpRequest) -> HttpResponse:
    if not can_see_team_progress(request.user):
        raise PermissionDenied("Leads (for their teams) and SREs see this page.")
    page = insights_page(teams=team_progress_scope(request.user))
    return render(request, "insights/lessons_working.html", {"page": page, "sre": is_sre(request.user)})

"""Environment pages: read from the database (git state and the last sync); changes go to services."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import team_get
from apps.environments import gates, selectors, services
from apps.environments.models import Approval, Deployment

POLL_SECONDS = 3


@require_GET
def environment_list(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    rows = selectors.team_environments(team=team)
    return render(request, "environments/list.html", {"team": team, "rows": rows})


def _page_context(request: HttpRequest, environment, **extra) -> dict:
    page = selectors.environment_page(environment=environment, user=request.user)
    actions = gates.environment_actions(
        user=request.user,
        environment=environment,
        source_healthy_tag=page.source_live.healthy_tag if page.source_live else None,
        approvals=page.approvals,
    )
    return {
        "team": environment.team,
        "environment": environment,
        "page": page,
        "verdicts": actions.verdicts,
        "candidates": actions.candidates,
        "approvable": actions.approvable,
        "deploy_blocked": actions.deploy_blocked,
        "poll": POLL_SECONDS,
        # A fresh key per rendering: submitting the same form twice finds the first request.
        "request_key": uuid.uuid4().hex,
        **extra,
    }


@require_GET
def environment_detail(request: HttpRequest, team_slug: str, env_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    context = _page_context(request, environment)
    if not request.htmx:
        return render(request, "environments/detail.html", context)
    response = render(request, "environments/detail.html#live", context)
    watched = request.GET.get("watch", "")
    if (
        watched.isascii()
        and watched.isdigit()
        and (context["page"].active is None or str(context["page"].active.pk) != watched)
    ):
        # The deployment this page was showing has finished: reload the whole page, so the
        # forms (rollback target, promotion candidate, gates) reflect the new state.
        response["HX-Refresh"] = "true"
    return response


def _refused(request: HttpRequest, environment, exc: services.RequestRefused) -> HttpResponse:
    status = 400 if isinstance(exc, services.BadInput) else 403
    context = _page_context(request, environment, action_error=str(exc), form=request.POST)
    template = "environments/detail.html#live" if request.htmx else "environments/detail.html"
    return render(request, template, context, status=status)


@require_POST
def deployment_create(request: HttpRequest, team_slug: str, env_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    kind = request.POST.get("kind", "")
    try:
        deployment = services.deployment_request(
            user=request.user, environment=environment, kind=kind, tag=request.POST.get("tag", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        )  # fmt: skip
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.success(request, f"{Deployment.Kind(deployment.kind).label} {deployment.tag}: requested.")
    return redirect("environments:detail", team.slug, environment.slug)


@require_POST
def approval_create(request: HttpRequest, team_slug: str, env_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    try:
        approval = services.approval_request(
            user=request.user, environment=environment, tag=request.POST.get("tag", ""),
            reason=request.POST.get("reason", ""),
        )  # fmt: skip
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.success(request, f"Approval for {approval.tag} requested from the team's leads and the SREs.")
    return redirect("environments:detail", team.slug, environment.slug)


def _approval_get(environment, approval_id: int) -> Approval:
    approval = Approval.objects.filter(pk=approval_id, environment=environment).select_related(
        "environment__team", "environment__cluster"
    ).first()  # fmt: skip
    if approval is None:
        raise Http404("No such approval request")
    return approval


@require_POST
def approval_approve(request: HttpRequest, team_slug: str, env_slug: str, approval_id: int) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    approval = _approval_get(environment, approval_id)
    try:
        services.approval_grant(user=request.user, approval=approval)
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.success(request, f"Approved {approval.tag} for {environment.slug}.")
    return redirect("environments:detail", team.slug, environment.slug)


@require_POST
def approval_decline(request: HttpRequest, team_slug: str, env_slug: str, approval_id: int) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    approval = _approval_get(environment, approval_id)
    try:
        services.approval_decline(user=request.user, approval=approval, reason=request.POST.get("reason", ""))
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.success(
        request, f"Declined {approval.tag} for {environment.slug}; {approval.requested_by} is told why."
    )
    return redirect("environments:detail", team.slug, environment.slug)

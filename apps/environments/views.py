"""Environment pages: read from the database (git state and the last sync); changes go to services."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.selectors import team_get
from apps.clusters.live import live_context
from apps.environments import gates, selectors, services, trace
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
        "ask_gate": actions.ask,
        "break_glass": actions.break_glass,
        "deploy_blocked": actions.deploy_blocked,
        # Pods rolling to a tag arrive by the team's stream; a deployment's steps by the poll.
        **live_context(environment.team, poll=POLL_SECONDS, keep_poll=True),
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


@require_GET
def environment_trace(request: HttpRequest, team_slug: str, env_slug: str) -> HttpResponse:
    """Why isn't my change live: the environment's current tag, or the tag or commit named."""
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    asked = {"tag": request.GET.get("tag", ""), "commit": request.GET.get("commit", "")}
    context = {"team": team, "environment": environment, "request_key": uuid.uuid4().hex, "asked": asked}
    try:
        tag, commit = trace.trace_target(tag=asked["tag"], commit=asked["commit"])
    except trace.TraceInputError as exc:
        return render(request, "environments/trace.html", {**context, "input_error": str(exc)}, status=400)
    context["trace"] = trace.environment_trace(
        environment=environment, user=request.user, tag=tag, commit=commit
    )
    return render(request, "environments/trace.html", context)


def _refused(request: HttpRequest, environment, exc: services.RequestRefused) -> HttpResponse:
    status = 400 if isinstance(exc, services.BadInput) else 403
    context = _page_context(request, environment, action_error=str(exc), form=request.POST,
                            confirm_tag=isinstance(exc, services.TagUnconfirmed))  # fmt: skip
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
            confirm_unverified=request.POST.get("confirm_unverified") == "on",
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
        "environment__team", "environment__cluster", "requested_by"
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
        reason = request.POST.get("reason", "")
        services.approval_decline(user=request.user, approval=approval, reason=reason)
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    who = approval.requested_by.get_username()
    messages.success(request, f"Declined {approval.tag} for {environment.slug}; {who} sees why.")
    return redirect("environments:detail", team.slug, environment.slug)


@require_POST
def break_glass(request: HttpRequest, team_slug: str, env_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    try:
        deployment = services.deployment_break_glass(
            user=request.user, environment=environment, reason=request.POST.get("reason", ""),
            idempotency_key=request.POST.get("idempotency_key", ""),
        )  # fmt: skip
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.warning(request, f"Break glass: rolling {environment.slug} back to {deployment.tag}. The team's "
                     "leads and the SREs are told, and will review it.")  # fmt: skip
    return redirect("environments:detail", team.slug, environment.slug)


@require_POST
def break_glass_review(
    request: HttpRequest, team_slug: str, env_slug: str, deployment_id: int
) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    environment = selectors.environment_get(team=team, slug=env_slug)
    rollbacks = Deployment.objects.filter(environment=environment, break_glass=True)
    deployment = rollbacks.filter(pk=deployment_id).select_related("requested_by").first()
    if deployment is None:
        raise Http404("No such break-glass rollback")
    deployment.environment = environment
    try:
        note = request.POST.get("note", "")
        services.deployment_review(user=request.user, deployment=deployment, note=note)
    except services.RequestRefused as exc:
        return _refused(request, environment, exc)
    messages.success(request, f"Reviewed the break-glass rollback to {deployment.tag}.")
    return redirect("environments:detail", team.slug, environment.slug)

"""Token pages: your personal tokens, and a team's service tokens for its leads and SREs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.permissions import team_progress_scope
from apps.accounts.selectors import team_get
from apps.api import services
from apps.api.models import ApiToken
from apps.api.permissions import can_manage_team_tokens, can_revoke_token
from apps.environments.models import Environment
from apps.notifications import services as notification_services
from apps.notifications.models import WebhookEndpoint
from apps.notifications.selectors import webhook_deliveries
from apps.notifications.webhooks import WEBHOOK_KINDS, UnsafeEndpoint


def _days(request: HttpRequest) -> int | None:
    raw = request.POST.get("days", "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        raise services.TokenRefused("Give the lifetime as a number of days.")
    return int(raw)


def _create(request: HttpRequest, **kwargs) -> tuple[ApiToken | None, str, str]:
    """(token, value, error) from the creation form."""
    try:
        token, value = services.token_create(
            by=request.user, name=request.POST.get("name", ""), scopes=request.POST.getlist("scopes"),
            days=_days(request), **kwargs,
        )  # fmt: skip
    except services.TokenRefused as exc:
        return None, "", str(exc)
    return token, value, ""


@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """GET: your tokens. POST: make one; its value is on this answer only."""
    context = {"scopes": ApiToken.Scope.values, "value": "", "error": ""}
    status = 200
    if request.method == "POST":
        _token, context["value"], context["error"] = _create(request)
        status = 400 if context["error"] else 201
    context["tokens"] = ApiToken.objects.filter(user=request.user, kind=ApiToken.Kind.PERSONAL)
    context["managed_teams"] = team_progress_scope(request.user)  # teams it leads; every team for SREs
    response = render(request, "api/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the value is shown once: never from a cache
    return response


@require_http_methods(["GET", "POST"])
def team_tokens(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    if not can_manage_team_tokens(request.user, team):
        raise PermissionDenied(f"Only leads of {team.name} and SREs manage its service tokens.")
    environments = list(Environment.objects.filter(team=team).select_related("team"))
    context = {"team": team, "scopes": services.SERVICE_SCOPES, "environments": environments, "value": "",
               "error": ""}  # fmt: skip
    status = 200
    if request.method == "POST":
        wanted = set(request.POST.getlist("environments"))
        chosen = [e for e in environments if str(e.pk) in wanted]
        _token, context["value"], context["error"] = _create(request, team=team, environments=chosen)
        status = 400 if context["error"] else 201
    context["tokens"] = ApiToken.objects.filter(team=team).prefetch_related("environments__team")
    response = render(request, "api/team_tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=token_id).select_related("team", "user").first()
    if token is None or not can_revoke_token(request.user, token):
        raise Http404("No such token")
    if services.token_revoke(token=token, by=request.user):
        messages.success(request, f"Revoked {token.name}: it is refused from now on.")
    if token.team is not None:
        return redirect("api_tokens:team", token.team.slug)
    return redirect("api_tokens:list")


@require_http_methods(["GET", "POST"])
def team_webhooks(request: HttpRequest, team_slug: str) -> HttpResponse:
    """A team's webhook endpoints and their last deliveries; leads and SREs add and remove them."""
    team = team_get(slug=team_slug, user=request.user)
    if not can_manage_team_tokens(request.user, team):
        raise PermissionDenied(f"Only leads of {team.name} and SREs manage its webhooks.")
    context = {"team": team, "kinds": WEBHOOK_KINDS, "secret": "", "error": ""}
    status = 200
    if request.method == "POST" and request.POST.get("remove"):
        endpoint = WebhookEndpoint.objects.filter(team=team, pk=request.POST["remove"]).first()
        if endpoint is None:
            raise Http404("No such endpoint")
        notification_services.webhook_endpoint_remove(by=request.user, endpoint=endpoint)
        return redirect("api_tokens:webhooks", team.slug)
    if request.method == "POST":
        try:
            endpoint = notification_services.webhook_endpoint_create(
                by=request.user, team=team, url=request.POST.get("url", ""),
                kinds=request.POST.getlist("kinds"),
            )  # fmt: skip
        except UnsafeEndpoint as exc:
            context["error"], status = str(exc), 400
        else:
            context["secret"], status = endpoint.secret, 201
    endpoints = list(WebhookEndpoint.objects.filter(team=team, active=True))
    context["endpoints"] = endpoints
    context["deliveries"] = webhook_deliveries(endpoints=endpoints)
    response = render(request, "api/webhooks.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response

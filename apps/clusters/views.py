"""Live team pages, served from the last synced snapshot; never the Kubernetes API."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.permissions import can_act_on_team, is_sre
from apps.accounts.selectors import team_get, teams_for_listing
from apps.audit.selectors import audit_events
from apps.clusters.flux_actions import (
    ActionRefused,
    BadInput,
    actions_applicable,
    flux_action_request,
    flux_object_team,
    flux_objects_in_production,
)
from apps.clusters.models import FluxAction, FluxObject
from apps.clusters.selectors import flux as flux_selectors
from apps.clusters.selectors import team as team_selectors
from apps.core import inputs

POLL_SECONDS = 5


@require_GET
def team_list(request: HttpRequest) -> HttpResponse:
    mine, others = teams_for_listing(user=request.user)
    return render(request, "clusters/team_list.html", {"mine": mine, "others": others})


# A team page's body is cached until the next sync of its clusters: any number of
# viewers polling every few seconds then costs one render per sync.
TEAM_BODY_CACHE_SECONDS = 120


@require_GET
def team_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    filters = {
        "cluster": inputs.text(request.GET.get("cluster", ""), field="cluster", max_length=50),
        "namespace": inputs.text(request.GET.get("namespace", ""), field="namespace", max_length=63),
        "status": inputs.choice(request.GET.get("status", ""), field="status", choices=["", "problems"]),
    }
    clusters = team_selectors.team_clusters(team=team)
    sre = is_sre(request.user)
    key = (
        "team-body:"
        + hashlib.sha256(
            repr(
                (team.pk, sorted(filters.items()), sre, team_selectors.team_page_version(clusters=clusters))
            ).encode()
        ).hexdigest()
    )
    context = {
        "team": team,
        "poll": POLL_SECONDS,
        "team_label": settings.SHIRUBE_TEAM_LABEL,
        "freshness": [team_selectors.freshness(c) for c in clusters],
        "filters": filters,
    }
    body = cache.get(key)
    if body is None:
        view = team_selectors.team_view(team=team, **filters)
        body = render_to_string("clusters/team.html#body", {**context, "view": view}, request=request)
        cache.set(key, body, TEAM_BODY_CACHE_SECONDS)
    context["body"] = body
    if request.htmx:
        return render(request, "clusters/team.html#live", context)
    # The latest actions on the team's objects and environments (full page loads only, not the poll).
    context.update(
        clusters=clusters,
        namespaces=team_selectors.team_namespace_names(team=team),
        audit_events=audit_events(team=team, limit=10, clusters=[c.name for c in clusters]),
    )
    return render(request, "clusters/team.html", context)


def _flux_context(request: HttpRequest, team, **extra) -> dict:
    view = flux_selectors.flux_view(team=team)
    recent = list(FluxAction.objects.filter(team=team).select_related("requested_by")[:50])
    latest: dict = {}
    for action in recent:
        latest.setdefault((action.cluster_id, action.kind, action.namespace, action.name), action)
    # Permission once per stage, not per object: the team's objects are the team's.
    # (The service checks each request again, against the object's owning team.)
    may_act = {
        production: can_act_on_team(request.user, team, production=production) for production in (False, True)
    }
    sre = is_sre(request.user)
    nodes = flux_selectors.flux_nodes(view)
    # Which objects act on production matters only to someone allowed on one stage but not the other.
    production = set() if all(may_act.values()) else flux_objects_in_production([n.obj for n in nodes])
    for node in nodes:
        o = node.obj
        node.last_action = latest.get((o.cluster_id, o.kind, o.namespace, o.name))
        if (node.owned or sre) and may_act[o.pk in production]:
            node.actions = actions_applicable(o)
    return {
        "team": team,
        "view": view,
        "poll": POLL_SECONDS,
        "freshness": view.freshness,
        "audit_events": audit_events(team=team, limit=20),
        **extra,
    }


@require_GET
def flux_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    context = _flux_context(request, team)
    template = "clusters/flux.html#live" if request.htmx else "clusters/flux.html"
    return render(request, template, context)


@require_POST
def flux_action(
    request: HttpRequest, team_slug: str, cluster: str, namespace: str, kind: str, name: str, action: str
) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    obj = FluxObject.objects.select_related("cluster").filter(
        cluster__name=cluster, namespace=namespace, kind=kind, name=name
    ).first()  # fmt: skip
    if obj is None or action not in FluxAction.Kind.values:
        raise Http404("No such Flux object in the last sync")
    if flux_object_team(obj) != team:
        raise Http404("This Flux object is not the team's")
    try:
        flux_action_request(user=request.user, obj=obj, action=action, reason=request.POST.get("reason", ""))
        outcome = None
    except ActionRefused as exc:
        outcome = str(exc)
        if not request.htmx:
            messages.error(request, outcome)
            return redirect("clusters:flux", team.slug)
        status = 400 if isinstance(exc, BadInput) else 403
        context = _flux_context(request, team, action_error=outcome)
        return render(request, "clusters/flux.html#live", context, status=status)
    if request.htmx:
        return render(request, "clusters/flux.html#live", _flux_context(request, team))
    messages.success(request, f"{FluxAction.Kind(action).label} requested for {kind} {namespace}/{name}.")
    return redirect("clusters:flux", team.slug)


@require_GET
def workload_detail(
    request: HttpRequest, team_slug: str, cluster: str, namespace: str, kind: str, name: str
) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    page = team_selectors.workload_page(team=team, cluster=cluster, namespace=namespace, kind=kind, name=name)
    context = {"page": page, "team": team, "poll": POLL_SECONDS}
    template = "clusters/workload.html#live" if request.htmx else "clusters/workload.html"
    return render(request, template, context)


@require_GET
def pod_detail(request: HttpRequest, team_slug: str, cluster: str, namespace: str, pod: str) -> HttpResponse:
    team = team_get(slug=team_slug, user=request.user)
    page = team_selectors.pod_page(team=team, cluster=cluster, namespace=namespace, name=pod)
    context = {"page": page, "team": team, "poll": POLL_SECONDS}
    template = "clusters/pod.html#live" if request.htmx else "clusters/pod.html"
    return render(request, template, context)

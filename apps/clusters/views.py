"""Live team pages, served from the last synced snapshot; never the Kubernetes API."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from apps.accounts.permissions import is_sre
from apps.clusters import selectors

POLL_SECONDS = 5


@require_GET
def team_list(request: HttpRequest) -> HttpResponse:
    mine, others = selectors.teams_for_listing(user=request.user)
    return render(request, "clusters/team_list.html", {"mine": mine, "others": others})


# A team page's body is cached until the next sync of its clusters: any number of
# viewers polling every few seconds then costs one render per sync.
TEAM_BODY_CACHE_SECONDS = 120


@require_GET
def team_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = selectors.team_get(slug=team_slug, user=request.user)
    status = request.GET.get("status", "")
    filters = {
        "cluster": request.GET.get("cluster", "")[:50],
        "namespace": request.GET.get("namespace", "")[:63],
        "status": status if status in {"", "problems"} else "",
    }
    clusters = selectors.team_clusters(team=team)
    sre = is_sre(request.user)
    key = (
        "team-body:"
        + hashlib.sha256(
            repr(
                (team.pk, sorted(filters.items()), sre, selectors.team_page_version(clusters=clusters))
            ).encode()
        ).hexdigest()
    )
    context = {
        "team": team,
        "poll": POLL_SECONDS,
        "team_label": settings.SHIRUBE_TEAM_LABEL,
        "freshness": [selectors.freshness(c) for c in clusters],
        "filters": filters,
    }
    body = cache.get(key)
    if body is None:
        view = selectors.team_view(team=team, **filters)
        body = render_to_string("clusters/team.html#body", {**context, "view": view}, request=request)
        cache.set(key, body, TEAM_BODY_CACHE_SECONDS)
    context["body"] = body
    if request.htmx:
        return render(request, "clusters/team.html#live", context)
    context.update(clusters=clusters, namespaces=selectors.team_namespace_names(team=team))
    return render(request, "clusters/team.html", context)


@require_GET
def flux_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = selectors.team_get(slug=team_slug, user=request.user)
    view = selectors.flux_view(team=team)
    context = {"team": team, "view": view, "poll": POLL_SECONDS, "freshness": view.freshness}
    template = "clusters/flux.html#live" if request.htmx else "clusters/flux.html"
    return render(request, template, context)


@require_GET
def workload_detail(
    request: HttpRequest, team_slug: str, cluster: str, namespace: str, kind: str, name: str
) -> HttpResponse:
    team = selectors.team_get(slug=team_slug, user=request.user)
    page = selectors.workload_page(team=team, cluster=cluster, namespace=namespace, kind=kind, name=name)
    context = {"page": page, "team": team, "poll": POLL_SECONDS}
    template = "clusters/workload.html#live" if request.htmx else "clusters/workload.html"
    return render(request, template, context)


@require_GET
def pod_detail(request: HttpRequest, team_slug: str, cluster: str, namespace: str, pod: str) -> HttpResponse:
    team = selectors.team_get(slug=team_slug, user=request.user)
    page = selectors.pod_page(team=team, cluster=cluster, namespace=namespace, name=pod)
    context = {"page": page, "team": team, "poll": POLL_SECONDS}
    template = "clusters/pod.html#live" if request.htmx else "clusters/pod.html"
    return render(request, template, context)

"""Live team pages, served from the last synced snapshot; never the Kubernetes API."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.clusters import selectors

POLL_SECONDS = 5


@require_GET
def team_list(request: HttpRequest) -> HttpResponse:
    mine, others = selectors.teams_for_listing(user=request.user)
    return render(request, "clusters/team_list.html", {"mine": mine, "others": others})


@require_GET
def team_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = selectors.team_get(slug=team_slug, user=request.user)
    status = request.GET.get("status", "")
    view = selectors.team_view(
        team=team,
        cluster=request.GET.get("cluster", "")[:50],
        namespace=request.GET.get("namespace", "")[:63],
        status=status if status in {"", "problems"} else "",
    )
    context = {
        "view": view, "team": team, "poll": POLL_SECONDS, "team_label": settings.SHIRUBE_TEAM_LABEL,
    }  # fmt: skip
    if request.htmx:
        return render(request, "clusters/team.html#live", context)
    return render(request, "clusters/team.html", context)


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

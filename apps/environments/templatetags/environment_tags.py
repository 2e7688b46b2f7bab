"""Links to the "why isn't it live?" trace for other apps' pages (the floors: clusters never imports
environments, so its pod and Flux pages load this tag and environments reads its own rows)."""

from __future__ import annotations

from django import template

from apps.environments.selectors import environments_running

register = template.Library()


@register.inclusion_tag("environments/_trace_links.html")
def trace_links(cluster_id: int, namespace: str = "", images: list[str] | None = None, team=None) -> dict:
    """The environments in a namespace whose image a pod runs, or every environment of a team (one query)."""
    return {
        "environments": environments_running(
            cluster_id=cluster_id, namespace=namespace, images=images or [], team=team
        )
    }

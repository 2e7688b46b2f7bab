"""Environment boxes for other apps' pages (CONVENTIONS.md, the floors): the lesson admin shows what
publishing a lesson changes at the gates without the lessons app importing environments, and the
clusters app's pod and Flux pages link the "why isn't it live?" trace (clusters never imports
environments, so those pages load this tag and environments reads its own rows)."""

from __future__ import annotations

from django import template

from apps.environments.selectors import environments_running, lesson_publish_impact

register = template.Library()


@register.inclusion_tag("environments/_publish_impact.html")
def lesson_gate_impact(lesson) -> dict:
    """Which environments' gates the lesson joins, from when, and who would lose which right then."""
    return {"lesson": lesson, "impacts": lesson_publish_impact(lesson=lesson) if lesson.pk else []}


@register.inclusion_tag("environments/_trace_links.html")
def trace_links(cluster_id: int, namespace: str = "", images: list[str] | None = None, team=None) -> dict:
    """The environments in a namespace whose image a pod runs, or every environment of a team (one query)."""
    return {
        "environments": environments_running(
            cluster_id=cluster_id, namespace=namespace, images=images or [], team=team
        )
    }

"""Environment boxes for other apps' pages (CONVENTIONS.md, the floors): the lesson admin shows what
publishing a lesson changes at the gates without the lessons app importing environments."""

from __future__ import annotations

from django import template

from apps.environments.selectors import lesson_publish_impact

register = template.Library()


@register.inclusion_tag("environments/_publish_impact.html")
def lesson_gate_impact(lesson) -> dict:
    """Which environments' gates the lesson joins, from when, and who would lose which right then."""
    return {"lesson": lesson, "impacts": lesson_publish_impact(lesson=lesson) if lesson.pk else []}

"""Readiness boxes for other apps' pages (CONVENTIONS.md, the floors): the page loads the tag, and
readiness reads its own findings, so the lessons and clusters apps never import readiness."""

from __future__ import annotations

from django import template

from apps.readiness.selectors import lesson_box, workload_findings

register = template.Library()


@register.inclusion_tag("readiness/_findings.html")
def workload_readiness(cluster_id: int, namespace: str, kind: str, name: str) -> dict:
    """The findings of one workload (on its page, and on each of its pods' pages)."""
    return {"findings": workload_findings(cluster_id=cluster_id, namespace=namespace, kind=kind, name=name)}


@register.inclusion_tag("readiness/_lesson_box.html", takes_context=True)
def lesson_readiness(context, lesson) -> dict:
    """The reader's teams' workloads that fail a rule the lesson teaches (at most one query)."""
    return {"readiness": lesson_box(lesson=lesson, user=context["request"].user)}

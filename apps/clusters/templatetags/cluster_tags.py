from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def age(value: datetime | None) -> str:
    """Kubernetes-style age: 45s, 12m, 3h, 5d."""
    if not value:
        return "—"
    seconds = int((timezone.now() - value).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


@register.filter
def age_iso(value: str) -> str:
    """age, for an RFC 3339 timestamp string (as Kubernetes writes them)."""
    from django.utils.dateparse import parse_datetime

    try:
        return age(parse_datetime(value)) if value else "—"
    except (TypeError, ValueError):
        return "—"


@register.filter
def seconds_ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


@register.filter
def make_list_of_one(value):
    return [value]


@register.filter
def get_annotation(annotations, key):
    return (annotations or {}).get(key, "")

"""Small filters for the cluster pages (times and durations: apps/core/timefmt.py)."""

from django import template

register = template.Library()


@register.filter
def make_list_of_one(value):
    return [value]


@register.filter
def get_annotation(annotations, key):
    return (annotations or {}).get(key, "")

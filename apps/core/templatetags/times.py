"""Template filters for times and durations (apps/core/timefmt.py), built into every template.

`{{ pod.created|ago }}`, `{{ environment.approval_ttl|duration }}`, `{{ e.at|when }}`,
`{{ progress.completed_at|day }}`; `duration:1` keeps one unit. Templates use these, never
`|date:"…"`, `|timesince` or a raw timedelta (tests/core/test_timefmt.py checks).
"""

from __future__ import annotations

from django import template

from apps.core import timefmt

register = template.Library()

register.filter("duration", timefmt.duration)
register.filter("ago", timefmt.ago)
register.filter("since", timefmt.since)
register.filter("when", timefmt.when)
register.filter("day", timefmt.day)

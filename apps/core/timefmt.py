"""How the site writes times and durations: one place, so that every page says them alike.

Pages used to mix Kubernetes ages (`12m`), `timesince` ("1 day, 2 hours"), a raw
timedelta ("1 day, 0:00:00"), RFC 3339 strings straight from the cluster and half a
dozen date formats. Everything now goes through these functions, also as template
filters (`apps/core/templatetags/times.py`, built into every template):

- `duration`: how long, largest units first ("45 s", "12 min", "2 h 5 min", "3 days");
- `ago`: how long ago (or from now), from a moment or a number of seconds;
- `since`: how long until now, for ages ("3 days") and "ready for 2 h";
- `when` and `day`: a moment or a date, in the site's time zone, in the formats of
  `portal/formats/<language>/formats.py`.

Words go through gettext and dates through Django's localised formats, so a later
issue can translate them without touching a template.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext

# Largest first: (seconds in the unit, a function giving its words for n).
_UNITS = (
    (86400, lambda n: ngettext("%(n)d day", "%(n)d days", n) % {"n": n}),
    (3600, lambda n: ngettext("%(n)d h", "%(n)d h", n) % {"n": n}),
    (60, lambda n: ngettext("%(n)d min", "%(n)d min", n) % {"n": n}),
    (1, lambda n: ngettext("%(n)d s", "%(n)d s", n) % {"n": n}),
)

# Go's time.Duration as Kubernetes and Flux write it: "5m0s", "1h30m", "500ms", "10m".
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def seconds_of(value: timedelta | int | float | str | None) -> float | None:
    """Seconds in a timedelta, a number of seconds, or a Go duration string; None if it is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _GO_DURATION.match(value.strip()):
        return sum(float(n) * _GO_UNIT_SECONDS[unit] for n, unit in _GO_PART.findall(value.strip()))
    return None


def duration(value: timedelta | int | float | str | None, parts: int = 2) -> str:
    """How long, in at most `parts` units, largest first, cut (not rounded) below the last one.

    "45 s", "12 min", "2 h 5 min", "1 day", "3 days 4 h". Under a second is "0 s"; a
    value that is not a duration is returned as it is (text from a cluster stays readable).
    """
    seconds = seconds_of(value)
    if seconds is None:
        return "" if value is None else str(value)
    remaining = int(abs(seconds))
    counts = []
    for size, say in _UNITS:
        n, remaining = divmod(remaining, size)
        counts.append((n, say))
    # From the largest unit that is not zero, `parts` units in a row; zeros among them are
    # left out, so 1 day and 5 min is "1 day" (not "1 day 5 min", which hides the hours).
    first = next((i for i, (n, _) in enumerate(counts) if n), len(counts) - 1)
    words = [say(n) for n, say in counts[first : first + max(parts, 1)] if n]
    return " ".join(words) or counts[-1][1](0)


def moment_of(value: datetime | str | None) -> datetime | None:
    """A datetime, or an RFC 3339 string as the Kubernetes API writes them; None otherwise."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def ago(value: datetime | str | int | float | None, now: datetime | None = None) -> str:
    """How long ago a moment was ("12 min ago"), or will be ("in 12 min"); seconds count as "ago".

    One unit is enough for a glance ("3 h ago"); `when` gives the exact time.
    """
    if value is None or value == "":
        return gettext("never")
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        moment = moment_of(value)
        if moment is None:
            return str(value)
        seconds = ((now or timezone.now()) - moment).total_seconds()
    if abs(seconds) < 1:
        return gettext("just now")
    if seconds < 0:
        return gettext("in %(duration)s") % {"duration": duration(-seconds, parts=1)}
    return gettext("%(duration)s ago") % {"duration": duration(seconds, parts=1)}


def since(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long something has lasted until now, in one unit: a pod's age ("3 days"), "ready for 2 h"."""
    moment = moment_of(value)
    if moment is None:
        return "—" if not value else str(value)
    return duration(max(((now or timezone.now()) - moment).total_seconds(), 0), parts=1)


def when(value: datetime | str | None) -> str:
    """A moment, to the minute, in the site's time zone: "3 Jun 2025, 14:05"."""
    moment = moment_of(value)
    if moment is None:
        return "" if value is None else str(value)
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return formats.date_format(moment, "DATETIME_FORMAT")


def day(value: date | datetime | str | None) -> str:
    """A date: "3 Jun 2025" (a moment counts in the site's time zone)."""
    if isinstance(value, str):
        value = moment_of(value)
    if value is None:
        return ""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATE_FORMAT")

"""Times and durations: one way of writing them (apps/core/timefmt.py), used by every template."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import override_settings

from apps.core import timefmt

NOW = datetime(2025, 6, 3, 14, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "parts", "expected"),
    [
        (timedelta(hours=24), 2, "1 day"),  # was "1 day, 0:00:00" on the environment page
        (timedelta(days=30), 2, "30 days"),
        (timedelta(days=1, hours=4, minutes=5), 2, "1 day 4 h"),
        (timedelta(days=1, minutes=5), 2, "1 day"),  # never "1 day 5 min", which hides the hours
        (timedelta(hours=2, minutes=5, seconds=9), 2, "2 h 5 min"),
        (timedelta(hours=2, minutes=5), 1, "2 h"),
        (45, 2, "45 s"),
        (0.4, 2, "0 s"),
        (600, 2, "10 min"),
        ("5m0s", 2, "5 min"),  # Flux intervals are Go durations
        ("1h30m", 2, "1 h 30 min"),
        ("10m", 2, "10 min"),
        ("soon", 2, "soon"),  # not a duration: shown as it is, not hidden
        (None, 2, ""),
    ],
)
def test_durations_are_written_in_the_largest_units(value, parts, expected):
    assert timefmt.duration(value, parts) == expected


def test_ago_says_how_long_ago_or_from_now_in_one_unit():
    assert timefmt.ago(NOW - timedelta(minutes=12, seconds=40), now=NOW) == "12 min ago"
    assert timefmt.ago(NOW - timedelta(days=3, hours=5), now=NOW) == "3 days ago"
    assert timefmt.ago(NOW + timedelta(minutes=5), now=NOW) == "in 5 min"
    assert timefmt.ago(NOW, now=NOW) == "just now"
    assert timefmt.ago(45) == "45 s ago"  # a freshness in seconds
    assert timefmt.ago("2025-06-03T13:05:30Z", now=NOW) == "1 h ago"  # as the Kubernetes API writes it
    assert timefmt.ago(None) == "never" and timefmt.ago("") == "never"


def test_since_is_an_age_without_ago():
    assert timefmt.since(NOW - timedelta(days=2, hours=3), now=NOW) == "2 days"
    assert timefmt.since("2025-06-03T14:00:00Z", now=NOW) == "5 min"
    assert timefmt.since(None) == "—"


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_moments_and_days_use_one_format_in_the_sites_time_zone():
    assert timefmt.when(NOW) == "3 Jun 2025, 23:05"
    assert timefmt.day(datetime(2025, 6, 3, 20, 0, tzinfo=UTC)) == "4 Jun 2025"  # already the 4th in Tokyo
    assert timefmt.day(date(2025, 6, 3)) == "3 Jun 2025"
    assert timefmt.when("2025-06-03T14:05:30Z") == "3 Jun 2025, 23:05"
    assert timefmt.when(None) == "" and timefmt.day(None) == ""


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_a_japanese_reader_gets_japanese_words_and_dates():
    """The same functions in Japanese (issue 21): words from the catalogue, dates from
    portal/formats/ja; the English above is untouched (the tests run in English)."""
    from django.utils import translation

    with translation.override("ja"):
        assert timefmt.duration(timedelta(days=1, hours=4)) == "1 日 4 時間"
        assert timefmt.duration(45) == "45 秒"
        assert timefmt.ago(NOW - timedelta(minutes=12), now=NOW) == "12 分前"
        assert timefmt.ago(NOW + timedelta(minutes=5), now=NOW) == "5 分後"
        assert timefmt.ago(NOW, now=NOW) == "たった今"
        assert timefmt.when(NOW) == "2025年6月3日 23:05"
        assert timefmt.day(date(2025, 6, 3)) == "2025年6月3日"
    assert timefmt.duration(45) == "45 s"


def test_the_filters_are_built_into_every_template():
    rendered = Template("{{ ttl|duration }} · {{ at|when }} · {{ on|day }} · {{ s|ago }}").render(
        Context({"ttl": timedelta(hours=24), "at": NOW, "on": date(2025, 6, 3), "s": 90})
    )
    assert rendered == "1 day · 3 Jun 2025, 14:05 · 3 Jun 2025 · 1 min ago"


ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted([*ROOT.glob("apps/*/templates/**/*.html"), *ROOT.glob("templates/**/*.html")])
# Ways of writing a time that bypass timefmt: a format of its own, Django's timesince (which
# writes "1 day, 2 hours"), the old Kubernetes-style ages, and a timedelta printed raw.
OTHER_WAYS = re.compile(
    r"\|\s*(date|time|timesince|timeuntil|naturaltime|naturalday|age|age_iso|seconds_ago)\b"
    r"|approval_ttl\s*}}"
)


def test_no_template_writes_a_time_its_own_way():
    assert TEMPLATES, "no templates found"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for path in TEMPLATES
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OTHER_WAYS.search(line)
    ]
    assert not offenders, "use |duration, |ago, |since, |when or |day:\n" + "\n".join(offenders)

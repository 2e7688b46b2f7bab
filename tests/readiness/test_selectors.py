"""Reads for readiness: which lesson teaches each rule (the lessons app answers; readiness says its rules)."""

from __future__ import annotations

import pytest

from apps.readiness import selectors
from tests.factories import LessonFactory, PhaseFactory

pytestmark = pytest.mark.django_db


def test_rule_lessons_prefer_the_production_readiness_phase_then_the_rules_own():
    early = LessonFactory(
        phase=PhaseFactory(slug="observability", order=1), related_rules=["metrics-exposed"]
    )
    late = LessonFactory(
        phase=PhaseFactory(slug="production-readiness", order=5), related_rules=["metrics-exposed"]
    )
    fallback = LessonFactory(slug="debugging-failing-pods")
    LessonFactory(slug="probes", status="draft", related_rules=["readiness-probe"])
    mapping = selectors.rule_lessons()
    assert mapping["metrics-exposed"].lesson == late != early
    assert mapping["restarts"].lesson == fallback
    assert "readiness-probe" not in mapping  # only a draft teaches it


def test_the_metrics_rule_links_to_the_lesson_on_an_apps_metrics_at_its_section():
    """On a team page the metrics rule fails on the team's applications: its link goes to declaring
    an app's metrics to Autodiscovery, not to watching system components (the shipped curriculum)."""
    from django.conf import settings

    from apps.lessons.content_import import load_content

    load_content(settings.SHIRUBE_CONTENT_DIR)
    links = selectors.rule_lessons()
    assert links["metrics-exposed"].url == "/learn/observability/datadog-agent-autodiscovery/#autodiscovery"
    assert links["graceful-termination"].url == "/learn/production-readiness/graceful-termination/#prestop"

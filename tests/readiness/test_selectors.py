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
    assert mapping["metrics-exposed"] == late != early
    assert mapping["restarts"] == fallback
    assert "readiness-probe" not in mapping  # only a draft teaches it

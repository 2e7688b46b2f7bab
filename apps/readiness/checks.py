"""System checks (`manage.py check`): lessons name only readiness rules that exist.

A lesson links to a rule through `related_rules`; a misspelt id links to nothing,
silently. The content folder is read here, not by the lessons app, because the
lessons app sits below readiness (CONVENTIONS.md, the floors) and knows no rules.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from apps.lessons.content import lesson_files_read
from apps.readiness.rules import RULES


@checks.register("readiness")
def lessons_name_known_rules(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A warning per rule id a lesson file under SHIRUBE_CONTENT_DIR names that no rule has."""
    return [
        checks.Warning(
            f"{lesson.path}: unknown readiness rule '{rule}'",
            hint=f"Known rules: {', '.join(sorted(RULES))}.",
            id="readiness.W001",
        )
        for lesson in lesson_files_read(settings.SHIRUBE_CONTENT_DIR)
        for rule in lesson.related_rules
        if rule not in RULES
    ]

"""`manage.py check` reports a lesson that names a readiness rule no rule has."""

from __future__ import annotations

from django.core.management import call_command

from apps.readiness.checks import lessons_name_known_rules

LESSON = """---
title: {title}
summary: A lesson.
minutes: 5
related_rules: {rules}
---
Body.
"""


def write_content(root, rules_by_lesson: dict[str, list[str]]):
    phase = root / "01-basics"
    phase.mkdir(parents=True)
    (phase / "_phase.md").write_text("---\ntitle: Basics\nsummary: The start.\n---\n")
    for order, (slug, rules) in enumerate(rules_by_lesson.items(), start=1):
        (phase / f"{order:02d}-{slug}.md").write_text(LESSON.format(title=slug.title(), rules=rules))


def test_the_shipped_lessons_name_only_known_rules():
    assert lessons_name_known_rules() == []
    call_command("check", fail_level="WARNING")  # what CI and `manage.py check` run


def test_an_unknown_rule_is_reported_with_its_file(tmp_path, settings):
    write_content(tmp_path, {"probes": ["readiness-probe"], "typo": ["graceful-terminaton", "restarts"]})
    settings.SHIRUBE_CONTENT_DIR = tmp_path
    messages = lessons_name_known_rules()
    assert [(m.id, m.msg) for m in messages] == [
        (
            "readiness.W001",
            f"{tmp_path.name}/01-basics/02-typo.md: unknown readiness rule 'graceful-terminaton'",
        )
    ]
    assert "graceful-termination" in messages[0].hint


def test_a_missing_content_folder_is_no_error(tmp_path, settings):
    settings.SHIRUBE_CONTENT_DIR = tmp_path / "nowhere"
    assert lessons_name_known_rules() == []

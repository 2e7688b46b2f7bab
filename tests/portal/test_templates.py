"""Template mistakes that show on every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted([*ROOT.glob("apps/*/templates/**/*.html"), *ROOT.glob("templates/**/*.html")])


def test_no_comment_tag_spans_lines():
    """Django's {# … #} ends at the line's end: one that spans lines is printed on the page (base.html
    printed "{# A refusal (400 bad input…" at the top of every page). Use {% comment %} instead."""
    found = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in TEMPLATES
        for text in [path.read_text()]
        for m in re.finditer(r"\{#(?:(?!#\}).)*$", text, re.MULTILINE)
    ]
    assert not found, found


@pytest.mark.django_db
def test_a_page_shows_no_template_syntax(client_for):
    from tests.factories import UserFactory

    html = client_for(UserFactory()).get("/learn/").content.decode()
    assert "{#" not in html and "#}" not in html and "{%" not in html

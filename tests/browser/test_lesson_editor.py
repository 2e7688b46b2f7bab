"""The admin's lesson editor: the preview beside the fields, with Mermaid diagrams drawn."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PhaseFactory, UserFactory, quiz_lesson

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_preview_sits_beside_the_body_and_draws_diagrams(live_server, page, login):
    from apps.accounts.services import user_make_sre

    lesson = quiz_lesson(questions=5, phase=PhaseFactory(slug="flux"), slug="suspend", body="Old body.")
    login(page, user_make_sre(user=UserFactory(username="sre", is_staff=True)))
    page.goto(f"{live_server.url}/admin/lessons/lesson/{lesson.pk}/change/")
    body = page.locator("#id_body")
    body.fill('## The flow\n\n```mermaid\ngraph LR\n  A["Git"] --> B["Flux"]\n```\n')
    preview = page.locator("#lesson-preview")
    expect(preview.locator("h2")).to_have_text("The flow")
    diagram = preview.locator("pre.mermaid svg")
    expect(diagram).to_be_visible()
    expect(diagram).to_contain_text("Flux")

    # Beside, not below: with the body field in view, the preview is to its right, level with it.
    body.evaluate("(el) => el.scrollIntoView({block: 'center'})")
    body_box, preview_box = body.bounding_box(), preview.bounding_box()
    assert preview_box["x"] >= body_box["x"] + body_box["width"], (body_box, preview_box)
    assert (
        preview_box["y"] < body_box["y"] + body_box["height"]
        and body_box["y"] < preview_box["y"] + preview_box["height"]
    )
    # It follows the author down the fields: still on screen at the last of them.
    page.locator("#id_related_rules").evaluate("(el) => el.scrollIntoView({block: 'end'})")
    assert 0 <= preview.bounding_box()["y"] < 900

    # A diagram that does not parse yet (the author is typing) is no error on the page.
    body.fill("```mermaid\ngraph LR\n  A[unclosed --> \n```\n")
    expect(preview.locator("pre.mermaid")).to_have_count(1)

"""axe-core on every main page: no serious or critical violation.

axe is injected into pages opened in a browser context that bypasses the
Content-Security-Policy (the site's CSP would refuse a script it does not serve itself);
the CSP is checked by the other browser tests, in normal contexts (the `page` fixture).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.tour import visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "static/vendor/axe-core/axe.min.js"
BLOCKING = ("serious", "critical")

RUN_AXE = """async (scope) => {
  const results = await axe.run(scope || document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + (n.failureSummary || "").split("\\n")[1]),
  }));
}"""


@pytest.fixture
def axe_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _violations(page, scope: str | None = None) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}"
        for v in page.evaluate(RUN_AXE, scope)
        if v["impact"] in BLOCKING
    ]


def test_axe_finds_nothing_serious_on_the_main_pages(live_server, axe_page, login, tour):
    signed_in: dict = {}
    found = []
    for stop in tour.stops:
        visit(axe_page, live_server, login, tour, stop, signed_in)
        found += [f"{stop.name} ({stop.path}): {v}" for v in _violations(axe_page)]
    assert not found, "\n".join(found)


def test_axe_finds_nothing_serious_in_the_lesson_editors_preview(live_server, axe_page, login, tour):
    """The preview is Shirube's; the rest of the page is Django's admin, whose own widgets (the
    owner autocomplete, the date-time pair, the inlines, the breadcrumbs) axe also reports."""
    login(axe_page, tour.people["sre"])
    axe_page.goto(f"{live_server.url}/admin/lessons/lesson/{tour.lesson_id}/change/")
    axe_page.locator("#lesson-preview h2").first.wait_for()
    assert not _violations(axe_page, ".lesson-editor-preview")


def test_no_page_of_the_site_loads_axe():
    """axe is for the tests: no template or script refers to it, and the image leaves it out."""
    from tests.kubesim.test_image import excluded, ignore_rules

    sources = [
        *ROOT.glob("apps/*/templates/**/*.html"),
        *ROOT.glob("templates/**/*.html"),
        *ROOT.glob("static/js/*.js"),
    ]
    assert sources
    assert not [str(p) for p in sources if re.search(r"axe", p.read_text(), re.IGNORECASE)]
    rules = ignore_rules((ROOT / ".dockerignore").read_text())
    assert excluded(rules, "static/vendor/axe-core/axe.min.js")
    assert not excluded(rules, "static/vendor/mermaid/mermaid.min.js")

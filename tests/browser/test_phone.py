"""Every main page on a 390 px wide phone: no sideways scroll of the page, wide tables and code
scrolling inside their own labelled, keyboard-reachable box, and a header that gives the screen
back once the reader scrolls. (The `page` fixture also fails on any CSP violation.)"""

from __future__ import annotations

import pytest

from tests.browser.tour import visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}

# What sticks out past the right edge of the screen, where nothing lets it scroll: the page's
# overflow, named so that a failure says where to look.
SIDEWAYS = """() => {
  const width = window.innerWidth;
  const scrolls = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const x = getComputedStyle(up).overflowX;
      if (x === "auto" || x === "scroll" || x === "hidden") return true;
    }
    return false;
  };
  const culprits = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 0.5 && !scrolls(el)) {
      culprits.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")}`
                    + ` right=${Math.round(box.right)}`);
    }
  }
  return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: width,
          culprits: culprits.slice(0, 8)};
}"""

# Boxes that scroll sideways (a wide table, a long code line): each must be reachable with the
# keyboard (in the tab order) and named, or a keyboard user cannot read what is cut off.
SCROLL_BOXES = """() => [...document.querySelectorAll("main *")].filter((el) => {
    const x = getComputedStyle(el).overflowX;
    return (x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1;
  }).filter((el) => !(el.tabIndex >= 0 && (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby"))))
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`)"""


def test_every_main_page_fits_a_phone_screen(live_server, page, login, tour):
    page.set_viewport_size(PHONE)
    signed_in: dict = {}
    problems = []
    for stop in tour.stops:
        visit(page, live_server, login, tour, stop, signed_in)
        found = page.evaluate(SIDEWAYS)
        if found["scrollWidth"] > found["innerWidth"]:
            problems.append(
                f"{stop.name} ({stop.path}) lays out {found['scrollWidth']} px wide: {found['culprits']}"
            )
        unlabelled = page.evaluate(SCROLL_BOXES)
        if unlabelled:
            problems.append(f"{stop.name}: boxes that scroll but are not focusable and named: {unlabelled}")
    assert not problems, "\n".join(problems)


def test_the_admin_lesson_editor_fits_a_phone_screen(live_server, page, login, tour):
    page.set_viewport_size(PHONE)
    login(page, tour.people["sre"])
    page.goto(f"{live_server.url}/admin/lessons/lesson/{tour.lesson_id}/change/")
    page.locator("#lesson-preview h2").first.wait_for()
    found = page.evaluate(SIDEWAYS)
    assert found["scrollWidth"] <= found["innerWidth"], found


def test_the_header_gives_the_screen_back_on_a_phone(live_server, page, login, tour):
    page.set_viewport_size(PHONE)
    login(page, tour.people["alice"])
    page.goto(f"{live_server.url}/teams/payments/")
    page.evaluate("window.scrollTo(0, 600)")
    covered = page.evaluate(
        "() => Math.max(0, Math.min(document.querySelector('.topbar').getBoundingClientRect().bottom,"
        " window.innerHeight))"
    )
    assert covered <= 0.08 * PHONE["height"], (
        f"the header covers {covered} px of a {PHONE['height']} px screen"
    )
    # At the top it is all there: the way to every section, and the search.
    page.evaluate("window.scrollTo(0, 0)")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Teams").is_visible()
    assert page.get_by_role("search", name="Site search").is_visible()

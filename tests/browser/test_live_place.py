"""Live pages keep the reader's place when they refresh: keyboard focus, what is on screen, a
table scrolled sideways. (static/js/live.js; it hooks htmx's swap events, so it holds for any
transport that swaps content in.)"""

from __future__ import annotations

import pytest

from apps.clusters import sync
from kubesim import objects as o

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each live page, and something focusable inside its live region.
LIVE_PAGES = [
    ("team", "/teams/payments/", "#live .problem-list a"),
    ("workload", "/teams/payments/workloads/demo/payments/deployment/checkout-api/", "#live .pods a"),
    ("pod", None, "#live .table-scroll"),
    ("flux", "/teams/payments/flux/", "#live .flux-actions button"),
    ("environment", "/teams/payments/environments/checkout-api-production/", "#live .table-scroll"),
]

COUNT_SWAPS = """() => {
  window.liveSwaps = 0;
  document.addEventListener("htmx:afterSwap", (event) => { if (event.target.id === "live") window.liveSwaps++; });
}"""


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr("apps.clusters.views.POLL_SECONDS", 1)
    monkeypatch.setattr("apps.environments.views.POLL_SECONDS", 1)
    # With Redis the pages follow a stream and keep only a slow poll under it: make that poll fast
    # too, so that swaps happen without a cluster change (what is tested is the swap, not its cause).
    monkeypatch.setattr("apps.clusters.live.STREAM_POLL_SECONDS", 1)


# Resolves after n more swaps of the live region (wait_for_function would eval, which the CSP refuses).
WAIT_FOR_SWAPS = """(n) => new Promise((resolve, reject) => {
  const until = window.liveSwaps + n;
  const give_up = Date.now() + 20000;
  const check = () => window.liveSwaps >= until ? resolve(true)
    : Date.now() > give_up ? reject(new Error("no swap of #live within 20 s")) : setTimeout(check, 100);
  check();
})"""


def _wait_for_swaps(page, n: int = 2) -> None:
    page.evaluate(WAIT_FOR_SWAPS, n)


def test_focus_stays_where_it_was_on_every_live_page(live_server, page, login, tour, fast_polls):
    from apps.clusters.models import Pod

    pod = Pod.objects.filter(namespace="payments").exclude(reason="").first()
    login(page, tour.people["alice"])
    lost = []
    for name, path, selector in LIVE_PAGES:
        page.goto(f"{live_server.url}{path or f'/teams/payments/pods/demo/payments/{pod.name}/'}")
        page.evaluate(COUNT_SWAPS)
        target = page.locator(selector).first
        target.focus()
        # Mark the element, so that the test knows the swap replaced it rather than left it be.
        before = page.evaluate(
            "() => { const el = document.activeElement; const tag = el.outerHTML.split('>')[0];"
            " el.dataset.old = 'yes'; return tag; }"
        )
        _wait_for_swaps(page)
        after = page.evaluate(
            "() => ({html: document.activeElement.outerHTML.split('>')[0], old: document.activeElement.dataset.old || '',"
            " body: document.activeElement === document.body})"
        )
        if after["body"] or after["html"] != before:
            lost.append(f"{name}: focus went from {before[:90]} to {after['html'][:90]}")
        assert after["old"] == "" or after["body"], f"{name}: the live region was not replaced"
    assert not lost, "\n".join(lost)


def test_what_is_on_screen_stays_put_when_something_appears_above_it(
    live_server,
    page,
    login,
    tour,
    sim,
    fast_polls,
):
    """A new problem at the top of the team page does not push away the namespace being read,
    and a table scrolled sideways on a phone stays scrolled."""
    from apps.clusters.models import Cluster

    page.set_viewport_size({"width": 390, "height": 844})
    login(page, tour.people["alice"])
    page.goto(f"{live_server.url}/teams/payments/")
    page.evaluate(COUNT_SWAPS)
    section = page.locator("section.namespace", has=page.locator(".table-scroll")).last
    section.evaluate("(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY + 40)")
    label = section.locator(".table-scroll").first.get_attribute("aria-label")
    box = page.locator(f'.table-scroll[aria-label="{label}"]')
    box.evaluate("(el) => { el.scrollLeft = 120; }")
    top_before = section.evaluate("(el) => el.getBoundingClientRect().top")
    left_before = box.evaluate("(el) => el.scrollLeft")
    assert left_before > 0, "the pods table should be wider than a phone"

    healthy = next(
        p["metadata"]["name"]
        for p in sim.store.list("pods", "payments")
        if p["metadata"]["name"].startswith("checkout-api")
    )
    sim.store.update("pods", "payments", healthy, lambda p: o.crashloop(p, 6), status_only=True)
    sync.cluster_sync(cluster=Cluster.objects.get(name="demo"))
    page.locator(f"#problem-{healthy}").wait_for(state="attached", timeout=20_000)
    _wait_for_swaps(page, 1)

    top_after = section.evaluate("(el) => el.getBoundingClientRect().top")
    assert abs(top_after - top_before) <= 2, f"the namespace moved from {top_before} to {top_after} px"
    assert box.evaluate("(el) => el.scrollLeft") == left_before


def test_a_refresh_does_not_take_focus_back_after_the_reader_left_it(
    live_server, page, login, tour, fast_polls
):
    login(page, tour.people["alice"])
    page.goto(f"{live_server.url}/teams/payments/")
    page.evaluate(COUNT_SWAPS)
    page.locator("#live .problem-list a").first.focus()
    page.evaluate("() => document.activeElement.blur()")  # as a click on the page's background does
    _wait_for_swaps(page)
    assert page.evaluate("() => document.activeElement === document.body"), page.evaluate(
        "() => document.activeElement.outerHTML.split('>')[0]"
    )

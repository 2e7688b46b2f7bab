"""Open pages follow a watch session: changes in the cluster appear without a reload.

The cluster is kubesim, watched by a real session (apps.clusters.watch) in a thread of the
test; the page listens to its team's stream. Arrival is awaited with a generous bound (30 s);
how fast is measured by bench/live_pages.py.
"""

import pytest
from playwright.sync_api import expect

from apps.clusters.models import Pod
from kubesim import objects as o
from tests.clusters.test_watch import Running, until
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARRIVAL_MS = 30_000


@pytest.fixture
def watched(cluster):
    session = Running(cluster)
    session.wait_watching(cluster)
    yield session
    session.stop()


@pytest.fixture
def alice(cluster):
    from apps.accounts.models import Team

    return MembershipFactory(team=Team.objects.get(slug="payments"), user=UserFactory(username="alice")).user


def test_the_team_page_follows_the_cluster_live(live_server, page, login, sim, watched, alice):
    sim.store.create(o.namespace("payments-batch"))
    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    expect(page.locator("[data-live-state]")).to_contain_text("Live")
    expect(page.locator("div.workload.healthy", has_text="checkout-api").first).to_contain_text("3/3 ready")

    # A pod changing phase.
    pod = next(
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("checkout-api")
    )
    name = pod["metadata"]["name"]
    sim.store.update("pods", "payments", name, lambda p: o.crashloop(p, 6), status_only=True)
    expect(page.locator(f"#problem-{name}")).to_contain_text("Crashing and restarting", timeout=ARRIVAL_MS)

    # A deployment scaling.
    sim.store.update("deployments.apps", "payments", "checkout-api", lambda d: d["spec"].update(replicas=5))
    expect(page.locator(".workload", has_text="checkout-api").first).to_contain_text(
        "/5 ready", timeout=ARRIVAL_MS
    )

    # A namespace gaining the team label.
    section = page.locator("section.namespace", has=page.locator("h2", has_text="payments-batch"))
    expect(section).to_have_count(0)
    sim.store.update(
        "namespaces", None, "payments-batch", lambda ns: ns["metadata"]["labels"].update(team="payments")
    )
    expect(section).to_have_count(1, timeout=ARRIVAL_MS)


def test_the_workload_and_pod_pages_follow_too(live_server, page, login, sim, watched, alice):
    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/workloads/demo/payments/deployment/checkout-api/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    sim.store.update("deployments.apps", "payments", "checkout-api", lambda d: d["spec"].update(replicas=4))
    expect(page.locator("#live")).to_contain_text("/4 ready", timeout=ARRIVAL_MS)

    pod = next(
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("checkout-api")
    )
    name = pod["metadata"]["name"]
    page.goto(f"{live_server.url}/teams/payments/pods/demo/payments/{name}/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    sim.store.update("pods", "payments", name, lambda p: o.crashloop(p, 6), status_only=True)
    expect(page.locator("#live")).to_contain_text("Crashing and restarting", timeout=ARRIVAL_MS)


def test_a_lost_stream_says_reconnecting_and_catches_up(
    live_server, page, login, sim, watched, alice, monkeypatch
):
    from apps.clusters import live

    # The catch-up below must come from the reconnection, not from the slow poll under the stream.
    assert live.STREAM_POLL_SECONDS * 1000 > ARRIVAL_MS
    monkeypatch.setattr(live, "STREAM_SECONDS", 2)  # the server ends each stream after 2 s
    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/")
    state = page.locator("[data-live-state]")
    expect(state).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    # The stream ends and the server cannot be reached again for a while: the page says so.
    page.route("**/teams/payments/live/", lambda route: route.abort())
    expect(state).to_have_attribute("data-live-state", "reconnecting", timeout=ARRIVAL_MS)
    expect(state).to_contain_text("Reconnecting")
    pod = next(
        p for p in sim.store.list("pods", "payments") if p["metadata"]["name"].startswith("checkout-api")
    )
    name = pod["metadata"]["name"]
    sim.store.update("pods", "payments", name, lambda p: o.crashloop(p, 6), status_only=True)
    until(lambda: Pod.objects.filter(name=name, problem="CrashLoopBackOff").exists(), "the crash loop")
    expect(page.locator(f"#problem-{name}")).to_have_count(0)  # published while the page was away
    page.unroute("**/teams/payments/live/")
    expect(state).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    expect(page.locator(f"#problem-{name}")).to_be_visible(timeout=ARRIVAL_MS)

"""An open team page follows the real kube-apiserver: a pod changing phase, a deployment
scaling, a namespace gaining the team label, each without a reload (arrival bound: 30 s)."""

import pytest
from playwright.sync_api import expect

from apps.clusters.models import Pod
from tests.clusters.test_watch import Running
from tests.factories import MembershipFactory, UserFactory
from tests.realkube.test_watch_both_servers import patch, seeded_cluster

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARRIVAL_MS = 30_000


def test_the_team_page_follows_the_real_api_server(live_server, page, login, real_kube):
    from apps.accounts.services import team_ensure

    team = team_ensure(slug="payments", name="Payments")
    cluster, api, suffix = seeded_cluster(real_kube, "real-live")
    payments, other = f"payments-{suffix}", f"search-{suffix}"
    session = Running(cluster, seconds=300)
    session.wait_watching(cluster)
    login(page, MembershipFactory(team=team, user=UserFactory()).user)
    page.goto(f"{live_server.url}/teams/payments/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    section = page.locator("section.namespace", has=page.locator("h2", has_text=other))
    expect(section).to_have_count(0)

    patch(api, f"/apis/apps/v1/namespaces/{payments}/deployments/checkout-api", {"spec": {"replicas": 6}})
    # This test's own namespace: other tests' rows (a demo "checkout-api" of the same team) may be on the page.
    ours = page.locator("section.namespace", has=page.locator("h2", has_text=payments))
    expect(ours.locator(".workload", has_text="checkout-api")).to_contain_text("/6 ready", timeout=ARRIVAL_MS)

    name = (
        Pod.objects.filter(cluster=cluster, namespace=payments, name__startswith="checkout-api").first().name
    )
    page.goto(f"{live_server.url}/teams/payments/pods/{cluster.name}/{payments}/{name}/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    expect(page.locator("#live")).not_to_contain_text("Failed")
    patch(api, f"/api/v1/namespaces/{payments}/pods/{name}/status", {"status": {"phase": "Failed"}})
    expect(page.locator("#live")).to_contain_text("Failed", timeout=ARRIVAL_MS)

    page.goto(f"{live_server.url}/teams/payments/")
    expect(page.locator("[data-live-state]")).to_have_attribute("data-live-state", "live", timeout=ARRIVAL_MS)
    patch(api, f"/api/v1/namespaces/{other}", {"metadata": {"labels": {"team": "payments"}}})
    expect(section).to_have_count(1, timeout=ARRIVAL_MS)
    session.stop()

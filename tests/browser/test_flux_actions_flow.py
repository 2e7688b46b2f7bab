import threading

import pytest
from playwright.sync_api import expect

from apps.clusters import sync
from kubesim.flux import reconcile_step
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flux_controller(sim):
    stop = threading.Event()

    def run():
        while not stop.wait(0.3):
            reconcile_step(sim.store)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_a_developer_suspends_resumes_and_reconciles(
    live_server, page, login, cluster, worker, flux_controller
):
    from apps.accounts.models import Team

    alice = MembershipFactory(team=Team.objects.get(slug="payments"), user=UserFactory(username="alice")).user
    sync.cluster_sync(cluster=cluster)
    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/flux/")
    node = page.locator("#flux-kustomization-flux-system-payments-apps")
    expect(node).to_contain_text("Ready")

    node.get_by_placeholder("Why suspend? (required)").fill("hotfix for incident 42")
    node.get_by_role("button", name="Suspend").click()
    expect(node).to_contain_text("Suspended by alice: “hotfix for incident 42”", timeout=30_000)
    expect(page.locator(".audit")).to_contain_text("flux.suspend")
    expect(page.locator(".audit")).to_contain_text("succeeded")

    node.get_by_role("button", name="Resume").click()
    expect(node).to_contain_text("Resume by alice: Done", timeout=30_000)
    expect(node.get_by_role("button", name="Suspend")).to_be_visible(timeout=30_000)

    node.get_by_role("button", name="Reconcile now").click()
    expect(node).to_contain_text(
        "Reconcile now by alice: Done — Flux reconciled it and it is ready.", timeout=30_000
    )
    expect(page.locator(".audit")).to_contain_text("flux.reconcile")

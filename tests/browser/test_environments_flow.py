"""The whole self-service loop in a browser, on the demo: deploy a branch build to staging, watch it
become healthy, be refused production until the phase is complete and a lead approves, promote,
roll back. A real Celery worker runs the deployments; kubesim plays Flux for a real bare repository.
"""

from __future__ import annotations

import subprocess
import threading

import pytest
from playwright.sync_api import expect

from kubesim.demo import evolve
from kubesim.demo_repo import demo_repo_init
from kubesim.gitops import GitOpsPlayer
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BRANCH_TAG = "feature-x-3f2a1c9-1732600000"


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "gitops.git"
    demo_repo_init(path)
    return path


@pytest.fixture
def flux_and_kubelet(sim, repo):
    """kubesim's Flux and Deployment controllers, stepping every 0.3 s in the background."""
    player = GitOpsPlayer(sim.store, {"flux-system/gitops": repo}, step_seconds=0.3)
    stop = threading.Event()
    evolve(sim.store, 0, player)

    def run():
        tick = 0
        while not stop.wait(0.3):
            tick += 1
            evolve(sim.store, tick, player)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def demo(cluster, repo, flux_and_kubelet):
    from apps.accounts.models import Membership, Team
    from apps.clusters import sync
    from apps.demo.services import demo_environments_configure
    from apps.environments.runner import environment_refresh

    payments = Team.objects.get(slug="payments")
    phase = PhaseFactory(slug="flux", title="Shipping with Flux")
    lesson = LessonFactory(phase=phase, slug="deploy-a-branch-build", title="Deploy a branch build")
    staging, production = demo_environments_configure(cluster=cluster, repo=repo)
    for environment in (staging, production):
        environment_refresh(environment=environment)
    sync.cluster_sync(cluster=cluster)
    alice = MembershipFactory(
        team=payments, user=UserFactory(username="alice", email="alice@example.com")
    ).user
    carol = MembershipFactory(
        team=payments, user=UserFactory(username="carol"), role=Membership.Role.LEAD
    ).user
    return {"staging": staging, "production": production, "alice": alice, "carol": carol, "lesson": lesson}


def _log_out(page):
    page.get_by_role("button", name="Log out").click()


def test_deploy_to_staging_then_promote_with_approval_then_roll_back(
    live_server, page, login, demo, worker, repo
):
    base = f"{live_server.url}/teams/payments/environments"
    login(page, demo["alice"])

    # Deploy a branch build to staging and watch it go through every step to healthy.
    page.goto(f"{base}/")
    page.get_by_role("link", name="checkout-api-staging").click()
    expect(page.get_by_test_id("automation")).to_contain_text("Follows the image policy")
    page.get_by_label("Image tag").fill(BRANCH_TAG)
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_test_id("deployment-status")).to_be_visible()
    expect(page.locator(".deployment-healthy").first).to_contain_text(BRANCH_TAG, timeout=60_000)
    expect(page.get_by_test_id("env-state")).to_have_text("healthy", timeout=30_000)
    expect(page.get_by_test_id("automation")).to_contain_text("Pinned by alice")
    expect(page.locator(".audit")).to_contain_text("environment.deploy")
    log = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%an %s", "main"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert log.strip() == f"alice Deploy checkout-api {BRANCH_TAG} to staging"

    # Production: the promote button is locked behind the phase and an approval.
    page.goto(f"{base}/checkout-api-production/")
    promote = page.get_by_role("button", name=f"Promote {BRANCH_TAG}")
    expect(promote).to_be_disabled()
    expect(page.locator(".actions")).to_contain_text("Complete “Shipping with Flux” first")
    page.get_by_role("link", name="Deploy a branch build").first.click()
    page.get_by_role("button", name="Mark as done").click()
    page.goto(f"{base}/checkout-api-production/")
    expect(page.locator(".actions")).not_to_contain_text("Complete “Shipping with Flux” first")
    expect(promote).to_be_disabled()  # still waiting for an approval
    page.get_by_label("Why").fill("feature x for the checkout team")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.locator(".approvals")).to_contain_text("pending")
    expect(page.get_by_role("button", name=f"Approve {BRANCH_TAG}")).to_have_count(0)  # never your own

    _log_out(page)
    login(page, demo["carol"])
    page.goto(f"{base}/checkout-api-production/")
    page.get_by_role("button", name=f"Approve {BRANCH_TAG}").click()
    expect(page.locator(".approvals")).to_contain_text("approved by carol")

    _log_out(page)
    login(page, demo["alice"])
    page.goto(f"{base}/checkout-api-production/")
    page.get_by_role("button", name=f"Promote {BRANCH_TAG}").click()
    expect(page.locator(".deployment-healthy").first).to_contain_text(f"Promote {BRANCH_TAG}", timeout=60_000)
    expect(page.get_by_test_id("git-tag")).to_have_text(BRANCH_TAG)

    # Roll back: production's previous tag, under the same gates (another approval).
    rollback = page.get_by_role("button", name="Roll back to v2.14.3")
    expect(rollback).to_be_disabled()
    page.get_by_label("Tag", exact=True).fill("v2.14.3")
    page.get_by_role("button", name="Ask for approval").click()
    _log_out(page)
    login(page, demo["carol"])
    page.goto(f"{base}/checkout-api-production/")
    page.get_by_role("button", name="Approve v2.14.3").click()
    _log_out(page)
    login(page, demo["alice"])
    page.goto(f"{base}/checkout-api-production/")
    page.get_by_role("button", name="Roll back to v2.14.3").click()
    expect(page.locator(".deployment-healthy").first).to_contain_text("Roll back v2.14.3", timeout=60_000)
    expect(page.locator(".audit")).to_contain_text("environment.rollback")

"""A developer follows a readiness finding to its lesson, and from the lesson back to the workload."""

import pytest
from playwright.sync_api import expect

from apps.clusters import sync
from apps.readiness.services import readiness_recompute
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_developer_follows_a_finding_to_its_lesson_and_back(live_server, page, login, cluster, monkeypatch):
    from apps.accounts.models import Team
    from apps.readiness import tasks

    # The recompute the sync queues runs here, in the test, rather than on a worker.
    monkeypatch.setattr(tasks.readiness_recompute, "delay", lambda cluster_id: None)
    LessonFactory(
        phase=PhaseFactory(slug="production-readiness", title="Production readiness"),
        slug="irsa-and-sts-regional-endpoints", title="AWS credentials with IRSA",
        related_rules=["sts-regional-endpoints"],
    )  # fmt: skip
    alice = MembershipFactory(team=Team.objects.get(slug="payments"), user=UserFactory(username="alice")).user
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)

    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/")
    page.get_by_role("link", name="Production readiness →").click()
    expect(page.get_by_role("heading", name="Production readiness: Payments")).to_be_visible()
    cell = page.locator("tr[data-workload='payments/fraud-scorer'] td[data-rule='sts-regional-endpoints']")
    expect(cell).to_contain_text("fail")

    finding = page.locator("#finding-payments-fraud-scorer-sts-regional-endpoints")
    expect(finding).to_contain_text("global STS endpoint")
    finding.get_by_role("link", name="Lesson: AWS credentials with IRSA").click()
    expect(page.get_by_role("heading", name="AWS credentials with IRSA", level=1)).to_be_visible()

    box = page.locator(".readiness-box")
    expect(box).to_contain_text("1 of your team's workloads fails this")
    box.get_by_role("link", name="payments/fraud-scorer").click()
    expect(page.get_by_role("heading", name="fraud-scorer", level=1)).to_be_visible()
    expect(page.locator("#finding-sts-regional-endpoints")).to_contain_text("STS regional endpoints for IRSA")

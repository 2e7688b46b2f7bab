import pytest
from playwright.sync_api import expect

from apps.clusters import sync
from kubesim import objects as o
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pod_going_into_crashloop_shows_up_without_a_reload(live_server, page, login, sim, cluster):
    from apps.accounts.models import Team

    lesson = LessonFactory(
        phase=PhaseFactory(slug="kubernetes"), slug="debugging-failing-pods",
        title="Debugging failing pods", related_reasons=["CrashLoopBackOff"],
    )  # fmt: skip
    alice = MembershipFactory(team=Team.objects.get(slug="payments"), user=UserFactory(username="alice")).user
    sync.cluster_sync(cluster=cluster)
    healthy = sim.store.list("pods", "payments")
    target = next(p for p in healthy if p["metadata"]["name"].startswith("checkout-api"))
    name = target["metadata"]["name"]

    login(page, alice)
    page.goto(f"{live_server.url}/teams/payments/")
    expect(page.locator("div.workload.healthy", has_text="checkout-api").first).to_contain_text("3/3 ready")
    expect(page.locator(f"#problem-{name}")).to_have_count(0)

    sim.store.update("pods", "payments", name, lambda p: o.crashloop(p, 6), status_only=True)
    sync.cluster_sync(cluster=cluster)

    problem = page.locator(f"#problem-{name}")
    expect(problem).to_contain_text("Crashing and restarting", timeout=15_000)
    row = page.locator(f"tr[data-pod='{name}']")
    expect(row.locator("td.status")).to_contain_text("CrashLoopBackOff")
    link = problem.get_by_role("link", name="Lesson: Debugging failing pods")
    expect(link).to_have_attribute("href", f"/learn/kubernetes/{lesson.slug}/")
    link.click()
    expect(page.get_by_role("heading", name="Debugging failing pods")).to_be_visible()

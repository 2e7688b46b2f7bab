import re

import pytest
from playwright.sync_api import expect

from apps.clusters import sync
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_home_page_fits_a_phone_and_links_the_team_s_worst_problem(live_server, page, login, cluster):
    from apps.accounts.models import Team

    LessonFactory(phase=PhaseFactory(slug="kubernetes"), slug="debugging", title="Debugging failing pods",
                  related_reasons=["CrashLoopBackOff", "ImagePullBackOff"])  # fmt: skip
    alice = MembershipFactory(team=Team.objects.get(slug="payments"), user=UserFactory(username="alice")).user
    sync.cluster_sync(cluster=cluster)  # the demo's payments namespace has failing pods

    page.set_viewport_size({"width": 360, "height": 740})
    login(page, alice)
    page.goto(f"{live_server.url}/")
    team = page.get_by_test_id("home-team")
    expect(team).to_contain_text(re.compile(r"[1-9]\d* problems?"))
    expect(team.get_by_role("link", name="Lesson: Debugging failing pods")).to_be_visible()
    expect(page.get_by_test_id("home-next-lesson")).to_contain_text("Debugging failing pods")
    # Nothing wider than the screen: no sideways scrolling at phone width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

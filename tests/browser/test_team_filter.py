import pytest
from playwright.sync_api import expect

from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_choosing_a_team_on_team_progress_shows_it_without_an_inline_script(live_server, page, login):
    """The team filter submits on change from static/js/forms.js (the CSP refuses inline handlers)."""
    carol = UserFactory(username="carol")
    for slug in ("payments", "search"):
        MembershipFactory(user=carol, team=TeamFactory(slug=slug, name=slug.title()), role="lead")
    login(page, carol)
    page.goto(f"{live_server.url}/learn/teams/")
    page.get_by_label("Team").select_option("search")
    page.wait_for_url("**/learn/teams/?team=search")
    expect(page.get_by_label("Team")).to_have_value("search")

"""A new person signs in through Keycloak's own login page in headless Chromium, then logs out."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.accounts.models import GroupMapping, Membership
from tests.factories import TeamFactory
from tests.sso.realm import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def keycloak_sign_in(page, username: str) -> None:
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#kc-login").click()


def test_a_new_lead_signs_in_through_keycloak_lands_on_their_team_and_logs_out_of_both(
    live_server,
    page,
    oidc,
):
    payments = TeamFactory(slug="payments", name="Payments")
    GroupMapping.objects.create(idp_group="/eng/payments", role="member", team=payments)
    GroupMapping.objects.create(idp_group="/eng/payments-leads", role="lead", team=payments)

    page.goto(f"{live_server.url}/teams/payments/")
    page.wait_for_url("**/accounts/login/?next=/teams/payments/")
    expect(page.locator("input[name=password]")).to_have_count(0)  # password sign-in is off
    page.get_by_role("link", name="Sign in with your company account").click()
    keycloak_sign_in(page, "lead-ken")

    page.wait_for_url(f"{live_server.url}/teams/payments/")
    expect(page.get_by_role("heading", name="Payments", exact=False).first).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Team progress")).to_be_visible()  # a lead's page
    expect(nav.get_by_role("link", name="Readiness")).to_have_count(0)  # not an SRE
    ken = get_user_model().objects.get(username="lead-ken")
    assert Membership.objects.get(user=ken, team=payments).role == "lead"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    # Keycloak's session ended too: signing in again asks for the password.
    page.get_by_role("link", name="Sign in with your company account").click()
    expect(page.locator("#kc-form-login")).to_be_visible()
    page.goto(f"{live_server.url}/teams/payments/")
    page.wait_for_url("**/accounts/login/?next=/teams/payments/")

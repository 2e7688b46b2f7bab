"""Sign-in through a real Keycloak, over HTTP: its own login page, its tokens, its admin API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import get_user_model

from apps.accounts.models import GroupMapping, IdpIdentity, Membership
from apps.accounts.permissions import is_sre
from apps.audit.models import AuditEvent
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.sso.conftest import KeycloakBrowser

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def mapped(db):
    payments, search = TeamFactory(slug="payments"), TeamFactory(slug="search")
    GroupMapping.objects.create(idp_group="/eng/payments", role="member", team=payments)
    GroupMapping.objects.create(idp_group="/eng/payments-leads", role="lead", team=payments)
    GroupMapping.objects.create(idp_group="/eng/search", role="member", team=search)
    GroupMapping.objects.create(idp_group="/platform/sre", role="sre")
    return payments, search


def roles(user) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def test_a_first_sign_in_creates_the_user_with_the_teams_and_roles_of_their_groups(oidc, mapped, client):
    response = KeycloakBrowser(client, "lead-ken").sign_in(next_url="/teams/payments/")

    assert response.status_code == 302 and response["Location"] == "/teams/payments/"
    ken = User.objects.get(idp_identity__subject=oidc.user_id("lead-ken"))
    assert ken.username == "lead-ken" and ken.email == "ken@example.com"
    assert (ken.first_name, ken.last_name) == ("Ken", "Lead")
    assert not ken.has_usable_password()
    assert ken.idp_identity.issuer == oidc.issuer
    assert roles(ken) == {"payments": "lead"}  # the lead group beats the member group
    assert Membership.objects.get(user=ken).managed_by_idp
    assert not is_sre(ken)
    assert client.get("/teams/payments/").status_code == 200  # signed in
    assert AuditEvent.objects.filter(
        action="config.membership", outcome="created", target="payments/lead-ken"
    )


def test_groups_changed_in_keycloak_change_teams_and_roles_at_the_next_sign_in(oidc, mapped, client):
    KeycloakBrowser(client, "dev-moe").sign_in()
    moe = User.objects.get(username="dev-moe")
    assert roles(moe) == {"payments": "member"} and not is_sre(moe)

    oidc.group_add("dev-moe", "/eng/search")
    oidc.group_add("dev-moe", "/platform/sre")
    oidc.group_remove("dev-moe", "/eng/payments")
    client.logout()
    KeycloakBrowser(client, "dev-moe").sign_in()

    moe = User.objects.get(pk=moe.pk)
    assert roles(moe) == {"search": "member"}
    assert is_sre(moe) and moe.is_staff and moe.idp_identity.sre_from_idp
    assert AuditEvent.objects.filter(action="config.membership", outcome="deleted", target="payments/dev-moe")
    assert AuditEvent.objects.filter(action="config.membership", outcome="created", target="search/dev-moe")
    assert AuditEvent.objects.filter(action="config.user", target="dev-moe", message__contains="+sre")

    # Every mapped group gone: the account and its history stay, the rights go.
    oidc.group_remove("dev-moe", "/eng/search")
    oidc.group_remove("dev-moe", "/platform/sre")
    client.logout()
    KeycloakBrowser(client, "dev-moe").sign_in()
    moe = User.objects.get(pk=moe.pk)
    assert roles(moe) == {} and not is_sre(moe) and not moe.is_staff and moe.is_active
    assert AuditEvent.objects.filter(action="config.user", target="dev-moe", message__contains="−sre")


def test_a_membership_made_by_hand_is_left_alone(oidc, mapped, client):
    _, search = mapped
    KeycloakBrowser(client, "dev-ana").sign_in()
    ana = User.objects.get(username="dev-ana")
    # An SRE adds Ana to search by hand (not from a group): the next sign-in keeps it.
    MembershipFactory(user=ana, team=search, role="lead")
    client.logout()
    KeycloakBrowser(client, "dev-ana").sign_in()
    assert roles(ana) == {"payments": "member", "search": "lead"}
    assert not Membership.objects.get(user=ana, team=search).managed_by_idp


def test_two_people_with_the_same_email_stay_two_accounts(oidc, mapped, client):
    KeycloakBrowser(client, "twin-one").sign_in()
    client.logout()
    KeycloakBrowser(client, "twin-two").sign_in()

    one, two = User.objects.get(username="twin-one"), User.objects.get(username="twin-two")
    assert one.pk != two.pk and one.email == two.email == "shared@example.com"
    assert roles(one) == {"search": "member"} and roles(two) == {"payments": "member"}
    assert IdpIdentity.objects.count() == 2


def test_a_local_account_with_the_same_name_is_never_taken_over(oidc, mapped, client):
    local = UserFactory(username="dev-ana", email="ana@example.com")
    KeycloakBrowser(client, "dev-ana").sign_in()
    signed_in = User.objects.get(idp_identity__subject=oidc.user_id("dev-ana"))
    assert signed_in.pk != local.pk and signed_in.username == "dev-ana-2"
    assert roles(local) == {}


def test_a_tampered_state_is_refused_and_creates_nothing(oidc, mapped, client):
    browser = KeycloakBrowser(client, "dev-ana")
    callback = browser.authorize(browser.start())
    tampered = callback.replace("state=", "state=x")
    response = browser.callback(tampered)
    assert response.status_code == 400
    assert "did not start here, or it was already used" in response.content.decode()
    assert not User.objects.filter(username="dev-ana").exists()


def test_a_replayed_code_is_refused(oidc, mapped, client):
    browser = KeycloakBrowser(client, "dev-ana")
    callback = browser.authorize(browser.start())
    assert browser.callback(callback).status_code == 302
    client.logout()
    # The same callback again: its state was used.
    again = browser.callback(callback)
    assert again.status_code == 400 and "already used" in again.content.decode()
    # The same code with a fresh state of this browser: Keycloak refuses a code used once.
    fresh = parse_qs(urlsplit(browser.start()).query)["state"][0]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    replay = client.get("/accounts/oidc/callback/", {"state": fresh, "code": code})
    assert replay.status_code == 403
    assert "refused this sign-in&#x27;s code: it works once" in replay.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_code_outside_the_callback_is_never_exchanged(oidc, mapped, client, settings):
    settings.SHIRUBE_LOCAL_LOGIN = True
    browser = KeycloakBrowser(client, "dev-ana")
    callback = browser.authorize(browser.start())
    query = urlsplit(callback).query
    # A password form posted with the code and state in its address: authenticate() asks every
    # backend, and the provider's must not exchange a code its callback did not check.
    response = client.post(f"/accounts/login/?{query}", {"username": "dev-ana", "password": "x"})
    assert response.status_code == 200 and "did not match" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="dev-ana").exists()
    # The callback itself still works once.
    assert browser.callback(callback).status_code == 302


def test_logout_ends_the_shirube_session_and_the_keycloak_session(oidc, mapped, client):
    browser = KeycloakBrowser(client, "dev-ana")
    browser.sign_in()
    # Keycloak's session for this sign-in (other tests' sessions of Ana may be alive too).
    sid = jwt.decode(client.session["oidc_id_token"], options={"verify_signature": False})["sid"]
    assert sid in {s["id"] for s in oidc.sessions("dev-ana")}

    response = client.post("/accounts/logout/")
    end_session = response["Location"]
    assert end_session.startswith(f"{oidc.issuer}/protocol/openid-connect/logout?")
    assert "id_token_hint=" in end_session
    assert client.get("/learn/").status_code == 302  # Shirube's session is over
    back = browser.http.get(end_session, allow_redirects=False, timeout=30)
    assert back.status_code == 302 and back.headers["Location"].endswith("/accounts/login/")
    assert sid not in {s["id"] for s in oidc.sessions("dev-ana")}
    # Keycloak asks for the password again: no single sign-on left behind.
    page = browser.http.get(browser.start(), allow_redirects=False, timeout=30)
    assert page.status_code == 200 and 'id="kc-form-login"' in page.text


def test_a_person_in_no_mapped_group_signs_in_with_no_team(oidc, mapped, client):
    response = KeycloakBrowser(client, "no-groups").sign_in()
    assert response.status_code == 302
    nobody = User.objects.get(username="no-groups")
    assert roles(nobody) == {} and nobody.idp_identity.groups == []

"""Tokens Keycloak would never issue, from a provider whose tokens the test chooses: each refused.

The whole flow runs over HTTP: Shirube's start view, the provider's authorization and
token endpoints, and Shirube's callback, which must refuse with a clear page and create
nothing.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache

from apps.accounts.models import GroupMapping, IdpIdentity, Membership
from tests.factories import TeamFactory
from tests.sso.fake_idp import FakeIdP, rsa_key

pytestmark = pytest.mark.django_db

User = get_user_model()
CLIENT_ID = "shirube-test"


@pytest.fixture
def idp(settings):
    with FakeIdP(client_id=CLIENT_ID) as provider:
        settings.SHIRUBE_OIDC_ISSUER = provider.issuer
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = "secret"
        cache.clear()
        yield provider
        cache.clear()


def sign_in(client):
    """Start, let the provider send the browser back, and call the callback."""
    start = client.get("/accounts/oidc/start/")
    assert start.status_code == 302
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)
    parts = urlsplit(back.headers["Location"])
    return client.get(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()})


def refused(response, words: str) -> None:
    assert response.status_code == 403, response.content[:300]
    assert words in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    assert not User.objects.exists() and not IdpIdentity.objects.exists()


def test_a_good_token_signs_in(idp, client):
    response = sign_in(client)
    assert response.status_code == 302
    assert User.objects.get(idp_identity__subject="fake-sub-1").username == "forged"


def test_a_token_signed_by_another_key_with_the_published_key_id_is_refused(idp, client):
    idp.sign_with = (rsa_key(), idp.kid)
    refused(sign_in(client), "not signed by any of its keys")


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_refused(idp, client):
    idp.sign_with = (rsa_key(), "attacker-key")
    refused(sign_in(client), "not signed by any of its keys")


def test_a_token_for_another_audience_is_refused(idp, client):
    idp.claims = {"aud": "another-app"}
    refused(sign_in(client), "issued to another application")


def test_a_token_for_several_audiences_naming_another_party_is_refused(idp, client):
    idp.claims = {"aud": [CLIENT_ID, "another-app"], "azp": "another-app"}
    refused(sign_in(client), "issued to another application")


def test_a_token_from_another_issuer_is_refused(idp, client):
    idp.claims = {"iss": "https://evil.example.com/"}
    refused(sign_in(client), "another identity provider")


def test_an_expired_token_is_refused(idp, client):
    now = int(time.time())
    idp.claims = {"iat": now - 3600, "exp": now - 600}
    refused(sign_in(client), "has expired")


def test_a_token_with_another_sign_ins_nonce_is_refused(idp, client):
    idp.claims = {"nonce": "a-nonce-from-another-sign-in"}
    refused(sign_in(client), "belongs to another sign-in")


def test_a_token_without_a_nonce_is_refused(idp, client):
    idp.claims = {"nonce": None}
    refused(sign_in(client), "belongs to another sign-in")


def test_an_unsigned_token_is_refused(idp, client, monkeypatch):
    unsigned = jwt_unsigned(idp)
    monkeypatch.setattr(idp, "id_token", lambda request: unsigned(request))
    refused(sign_in(client), "signed in a way Shirube refuses")


def jwt_unsigned(idp):
    import jwt

    def make(request):
        now = int(time.time())
        claims = {"iss": idp.issuer, "sub": "x", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": request.get("nonce")}  # fmt: skip
        return jwt.encode(claims, None, algorithm="none")

    return make


def test_a_discovery_document_naming_another_issuer_is_refused(idp, client, settings):
    settings.SHIRUBE_OIDC_ISSUER = idp.issuer + "/"  # not exactly what the document says
    response = client.get("/accounts/oidc/start/")
    assert response.status_code == 503 and "names another issuer" in response.content.decode()


def test_a_rotated_key_is_picked_up_at_once(idp, client):
    assert sign_in(client).status_code == 302
    client.logout()
    fetches = idp.jwks_fetches
    idp.rotate()  # the cached key set no longer has the signing key
    assert sign_in(client).status_code == 302
    assert idp.jwks_fetches == fetches + 1


def test_group_overage_is_refused_with_the_way_out_and_rights_unchanged(idp, client):
    team = TeamFactory(slug="payments")
    GroupMapping.objects.create(idp_group="g-payments", role="member", team=team)
    idp.claims = {"groups": ["g-payments"]}
    assert sign_in(client).status_code == 302
    user = User.objects.get()
    client.logout()
    # Entra ID leaves the groups out and points to Graph for someone in too many groups.
    idp.claims = {"groups": None, "_claim_names": {"groups": "src1"},
                  "_claim_sources": {"src1": {"endpoint": "https://graph.example.com/x"}}}  # fmt: skip
    response = sign_in(client)
    assert response.status_code == 403
    assert "group overage" in response.content.decode() and "access is unchanged" in response.content.decode()
    assert Membership.objects.get(user=user, team=team).managed_by_idp  # still a member


def test_the_provider_refusing_says_so(idp, client):
    start = client.get("/accounts/oidc/start/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get(
        "/accounts/oidc/callback/",
        {"error": "access_denied", "error_description": "User cancelled", "state": state},
    )
    assert response.status_code == 403
    assert "did not sign you in (access_denied: User cancelled)" in response.content.decode()


@pytest.mark.parametrize("path", ["/accounts/logout/", "/admin/logout/"])
def test_logging_out_anywhere_goes_on_to_the_providers_end_session(idp, client, path):
    assert sign_in(client).status_code == 302
    id_token = client.session["oidc_id_token"]
    response = client.post(path)
    assert response.status_code == 302
    end = urlsplit(response["Location"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == f"{idp.issuer}/logout"
    query = parse_qs(end.query)
    assert query["id_token_hint"] == [id_token] and query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert "_auth_user_id" not in client.session

"""Tokens: shown once, stored as a hash, bearer only, expiry and revocation at once, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.api.models import ApiToken
from apps.api.services import TokenRefused, token_create, token_revoke
from apps.audit.models import AuditEvent


@pytest.mark.django_db
def test_a_token_is_stored_only_as_its_hash(people, client):
    token, value = token_create(by=people["member"], name="laptop", scopes=["read"])
    assert value.startswith("shirube_pat_") and len(value) == len("shirube_pat_") + 40
    row = ApiToken.objects.get(pk=token.pk)
    stored = " ".join(str(v) for v in ApiToken.objects.values().get(pk=token.pk).values())
    assert value not in stored and value[12:] not in stored
    assert row.expires_at - timezone.now() > timedelta(days=89)
    events = " ".join(str(e.parameters) + e.message + e.target for e in AuditEvent.objects.all())
    assert value[12:] not in events
    assert AuditEvent.objects.filter(action="api.token", outcome="created").count() == 1


@pytest.mark.django_db
def test_it_answers_a_bearer_token_and_nothing_else(people, token_for, bearer, client):
    value = token_for(people["member"])
    assert bearer(value).get("/api/v1/me").json()["username"] == "alice"
    # A session is not a credential for the API, and neither is the token anywhere but the header.
    client.force_login(people["member"])
    assert client.get("/api/v1/me").status_code == 401
    assert client.get(f"/api/v1/me?token={value}").status_code == 401
    response = bearer("shirube_pat_" + "x" * 40).get("/api/v1/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


@pytest.mark.django_db
def test_revoked_and_expired_tokens_are_refused_at_once(people, token_for, bearer, monkeypatch):
    value = token_for(people["member"])
    assert bearer(value).get("/api/v1/me").status_code == 200
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(days=91))
    assert bearer(value).get("/api/v1/me").status_code == 401
    monkeypatch.setattr(timezone, "now", real_now)
    assert bearer(value).get("/api/v1/me").status_code == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    assert token_revoke(token=token, by=people["member"])
    assert bearer(value).get("/api/v1/me").status_code == 401
    assert AuditEvent.objects.filter(action="api.token", outcome="revoked").count() == 1


@pytest.mark.django_db
def test_team_tokens_are_for_leads_and_sres(people, envs, teams):
    with pytest.raises(TokenRefused):
        token_create(by=people["member"], name="ci", scopes=["deploy"], team=teams["payments"],
                     environments=[envs["staging"]])  # fmt: skip
    with pytest.raises(TokenRefused):  # an approving machine would defeat the approval
        token_create(by=people["lead"], name="ci", scopes=["approve"], team=teams["payments"],
                     environments=[envs["staging"]])  # fmt: skip
    with pytest.raises(TokenRefused):  # another team's environment
        token_create(by=people["sre"], name="ci", scopes=["deploy"], team=teams["search"],
                     environments=[envs["staging"]])  # fmt: skip
    token, value = token_create(by=people["lead"], name="ci", scopes=["deploy", "read"], team=teams["payments"],
                                environments=[envs["staging"]])  # fmt: skip
    assert value.startswith("shirube_svc_")
    assert token.user != people["lead"] and not token.user.has_usable_password()
    assert AuditEvent.objects.filter(action="api.token", outcome="refused").count() == 3


@pytest.mark.django_db
def test_the_settings_page_shows_a_new_token_once(people, client):
    client.force_login(people["member"])
    response = client.post(
        "/settings/tokens/", {"name": "laptop", "scopes": ["read", "deploy"], "days": "30"}
    )
    assert response.status_code == 201
    token = ApiToken.objects.get()
    page = response.content.decode()
    assert token.hint in page and "shown only this once" in page
    value = page.split(token.hint, 1)[1].split("<", 1)[0]
    assert len(token.hint + value) == len("shirube_pat_") + 40
    assert response["Cache-Control"] == "no-store"
    again = client.get("/settings/tokens/").content.decode()
    assert token.hint + value not in again
    assert client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get().state == "revoked"


@pytest.mark.django_db
def test_nobody_else_revokes_a_personal_token(people, client):
    token, _ = token_create(by=people["member"], name="laptop", scopes=["read"])
    client.force_login(people["other team"])
    assert client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().state == "active"


@pytest.mark.django_db
def test_a_deactivated_owner_s_token_is_refused_and_a_revoked_service_account_ends(
    people, envs, teams, bearer
):
    _token, value = token_create(by=people["member"], name="laptop", scopes=["read"])
    people["member"].is_active = False
    people["member"].save()
    assert bearer(value).get("/api/v1/me").status_code == 401
    service, _ = token_create(by=people["lead"], name="ci", scopes=["read"], team=teams["payments"],
                              environments=[envs["staging"]])  # fmt: skip
    token_revoke(token=service, by=people["lead"])
    service.user.refresh_from_db()
    assert not service.user.is_active

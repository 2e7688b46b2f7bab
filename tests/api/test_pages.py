"""The token and webhook pages: who may use them, values shown once, removal audited."""

from __future__ import annotations

import pytest

from apps.api.models import ApiToken
from apps.audit.models import AuditEvent
from apps.notifications.models import WebhookEndpoint


@pytest.mark.django_db
def test_a_lead_makes_a_team_token_for_chosen_environments(people, envs, client):
    client.force_login(people["lead"])
    response = client.post("/teams/payments/tokens/", {
        "name": "GitHub Actions", "scopes": ["read", "deploy"], "environments": [envs["staging"].pk],
    })  # fmt: skip
    assert response.status_code == 201
    token = ApiToken.objects.get()
    assert token.kind == "service" and list(token.environments.all()) == [envs["staging"]]
    assert "shown only this once" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["member", "other team"])
def test_members_do_not_manage_team_tokens_or_webhooks(who, people, envs, client):
    client.force_login(people[who])
    assert client.get("/teams/payments/tokens/").status_code == 403
    assert client.get("/teams/payments/webhooks/").status_code == 403
    assert client.post("/teams/payments/webhooks/", {"url": "https://example.com/", "kinds": ["flux.health"]})\
        .status_code == 403  # fmt: skip
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_webhook_at_the_metadata_address_is_refused_with_the_reason(people, envs, client):
    client.force_login(people["lead"])
    response = client.post("/teams/payments/webhooks/", {
        "url": "https://169.254.169.254/latest/meta-data/", "kinds": ["deployment.finished"],
    })  # fmt: skip
    assert response.status_code == 400 and "link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_lead_adds_and_removes_a_webhook(people, envs, client, settings):
    settings.SHIRUBE_WEBHOOK_ALLOW_LOOPBACK = True
    client.force_login(people["lead"])
    response = client.post("/teams/payments/webhooks/", {
        "url": "https://127.0.0.1:9/hook", "kinds": ["deployment.finished", "flux.health"],
    })  # fmt: skip
    assert response.status_code == 201
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get("/teams/payments/webhooks/").content.decode()
    client.post("/teams/payments/webhooks/", {"remove": endpoint.pk})
    assert not WebhookEndpoint.objects.get().active
    assert AuditEvent.objects.filter(action="config.webhookendpoint").count() == 2

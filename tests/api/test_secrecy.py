"""Token values never in the database, the logs, the audit log or an answer (error pages included)."""

from __future__ import annotations

import logging

import pytest
from django.apps import apps
from django.db import connection


def _database_text() -> str:
    """Every row of every table of the project's models, as text."""
    parts = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            cursor.execute(f'SELECT * FROM "{model._meta.db_table}"')  # noqa: S608 (our own table names)
            parts += [repr(row) for row in cursor.fetchall()]
    return "\n".join(parts)


@pytest.mark.django_db
def test_a_token_value_is_nowhere_after_use(people, staging, client, caplog, settings):
    settings.DEBUG = True  # the branch where a library would log a bad Authorization header
    caplog.set_level(logging.DEBUG)
    client.force_login(people["member"])
    page = client.post("/settings/tokens/", {"name": "ci", "scopes": ["read", "deploy"]}).content.decode()
    value = "shirube_pat_" + page.split("shirube_pat_", 1)[1][:40]
    client.logout()
    answers = []
    for scheme in ("Bearer", "Token", "bearer"):
        headers = {"Authorization": f"{scheme} {value}", "Idempotency-Key": "k1"}
        answers += [
            client.get("/api/v1/me", headers=headers),
            client.get("/api/v1/teams/nope/pods", headers=headers),
            client.get("/api/v1/teams/payments/pods?page_size=x", headers=headers),
            client.post("/api/v1/teams/payments/environments/checkout-api-staging/deployments", data="{bad",
                        content_type="application/json", headers=headers),  # fmt: skip
            client.post("/api/v1/teams/payments/environments/checkout-api-staging/deployments",
                        data={"tag": "no such tag!"}, content_type="application/json", headers=headers),
            client.get(f"/api/v1/me?token={value[:20]}%00", headers=headers),
        ]  # fmt: skip
    assert {a.status_code for a in answers} >= {200, 400, 401, 404}
    for answer in answers:
        assert value not in answer.content.decode() and value not in str(answer.headers)
    assert value not in caplog.text and value[12:] not in caplog.text
    assert value[12:] not in _database_text()

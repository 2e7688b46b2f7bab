"""Security headers on every response, and `check --deploy` with production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_every_page_carries_a_csp_without_inline_scripts_and_the_other_headers(client, user):
    client.force_login(user)
    for path in ("/accounts/login/", "/learn/", "/teams/", "/healthz"):
        response = client.get(path, follow=True)
        csp = response["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'", path
        assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in csp
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"


def test_a_refusal_before_any_view_carries_the_policy_too(client):
    response = client.get("/healthz", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_logout_may_go_on_to_the_identity_providers_origin(client, settings):
    from portal.middleware import _policy

    settings.SHIRUBE_OIDC_ISSUER = "https://idp.example.com/realms/acme"
    assert "form-action 'self' https://idp.example.com;" in _policy(settings.SHIRUBE_OIDC_ISSUER)
    assert "form-action 'self';" in _policy("")


@pytest.mark.django_db
def test_hsts_is_sent_over_https_only(client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    assert "Strict-Transport-Security" not in client.get("/healthz")
    hsts = client.get("/healthz", secure=True)["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains; preload"


def test_check_deploy_with_production_settings_reports_nothing(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": "k8s-mounted-" + "x7Qp2LmZ9vR4tY6wB1nC3dF5gH8jK0sA" * 2,
        "ALLOWED_HOSTS": "shirube.example.com",
        "DATABASE_URL": "postgres://shirube@db.example.com:5432/shirube",
        "REDIS_URL": "redis://redis.example.com:6379/0",
        "CELERY_BROKER_URL": "redis://redis.example.com:6379/1",
        "BEHIND_TLS_PROXY": "true",
        "SHIRUBE_VAR_DIR": str(tmp_path),
        "SHIRUBE_OIDC_ISSUER": "https://idp.example.com/realms/acme",
        "SHIRUBE_OIDC_CLIENT_ID": "shirube",
        "SHIRUBE_OIDC_CLIENT_SECRET": "s3cret",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout

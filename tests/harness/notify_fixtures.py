"""Fixtures for notifications and the Slack app: a real SMTP server, the Slack stand-in, signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from tests.harness.mail import SmtpServer
from tests.harness.slack_standin import SlackStandIn

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token"


@pytest.fixture(scope="session")
def _smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(_smtp_server, settings):
    """The real SMTP server, with Django's SMTP backend pointed at it."""
    _smtp_server.reset()
    settings.SHIRUBE_EMAIL_BACKEND = "smtp"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _smtp_server.port
    settings.EMAIL_TIMEOUT = 5
    return _smtp_server


@pytest.fixture(scope="session")
def _slack_server():
    server = SlackStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def slack(_slack_server, settings):
    """The Slack stand-in, with slack_sdk pointed at it and a bot token and signing secret set."""
    from django.core.cache import cache

    _slack_server.reset()
    cache.delete("notifications:paused:slack")  # a rate limit an earlier test met
    settings.SHIRUBE_SLACK_BOT_TOKEN = BOT_TOKEN
    settings.SHIRUBE_SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SHIRUBE_SLACK_API_URL = _slack_server.api_url
    settings.SHIRUBE_SLACK_RESPONSE_URL_PREFIX = _slack_server.url + "/response/"
    settings.SHIRUBE_SLACK_TIMEOUT = 1
    yield _slack_server
    _slack_server.hold.set()


def slack_sign(body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict:
    """Headers exactly as Slack sends them: v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature}


_trigger = iter(range(10**9))


def slash_body(text: str, *, user_id: str, team_id: str = "T0SHIRUBE", channel_id: str = "C0DEPLOYS",
               response_url: str = "") -> bytes:  # fmt: skip
    """A slash command's form body as Slack posts it (each with its own trigger_id)."""
    return urlencode({
        "token": "deprecated-verification-token", "team_id": team_id, "team_domain": "acme",
        "channel_id": channel_id, "channel_name": "deploys", "user_id": user_id, "user_name": user_id.lower(),
        "command": "/shirube", "text": text, "api_app_id": "A0SHIRUBE", "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": f"{next(_trigger)}.1234.abcdef",
    }).encode()  # fmt: skip


def interaction_body(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()

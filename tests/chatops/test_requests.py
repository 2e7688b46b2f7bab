"""Requests from Slack are verified before anything happens: signature, age, and once only."""

from __future__ import annotations

import time

import pytest

from apps.chatops.models import ChatCommand, SlackRequest
from apps.environments.models import Deployment
from tests.harness.notify_fixtures import slack_sign, slash_body

pytestmark = pytest.mark.django_db


def test_a_signed_command_is_acknowledged_at_once_and_queued(post_signed, slack):
    response = post_signed(
        "/slack/commands/", slash_body("deploy checkout-api-staging 1.2.3", user_id="U0ALICE")
    )
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "Working on" in response.json()["text"]
    command = ChatCommand.objects.get()
    assert (command.slack_user_id, command.text) == ("U0ALICE", "deploy checkout-api-staging 1.2.3")


def test_help_is_answered_at_once_and_queues_nothing(post_signed, slack):
    response = post_signed("/slack/commands/", slash_body("help", user_id="U0ALICE"))
    assert "/shirube deploy <environment> <tag>" in response.json()["text"]
    assert not ChatCommand.objects.exists()


def test_a_forged_signature_is_refused_and_nothing_is_done(post_signed, slack):
    body = slash_body("deploy checkout-api-staging 1.2.3", user_id="U0ALICE")
    forged = slack_sign(body, secret="not-the-signing-secret")
    response = post_signed("/slack/commands/", body, **forged)
    assert response.status_code == 401
    # A body changed after signing is refused too.
    tampered = body.replace(b"1.2.3", b"6.6.6")
    assert post_signed("/slack/commands/", tampered, **slack_sign(body)).status_code == 401
    assert not ChatCommand.objects.exists() and not SlackRequest.objects.exists()


def test_a_stale_timestamp_is_refused_even_when_signed(post_signed, slack):
    body = slash_body("deploy checkout-api-staging 1.2.3", user_id="U0ALICE")
    old = slack_sign(body, timestamp=int(time.time()) - 6 * 60)
    response = post_signed("/slack/commands/", body, **old)
    assert response.status_code == 401 and b"Stale" in response.content
    assert not ChatCommand.objects.exists()


def test_missing_headers_are_refused(client, slack):
    body = slash_body("help", user_id="U0ALICE")
    response = client.generic(
        "POST", "/slack/commands/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 401


def test_a_replayed_request_is_handled_once(post_signed, slack):
    body = slash_body("deploy checkout-api-staging 1.2.3", user_id="U0ALICE")
    headers = slack_sign(body)
    assert post_signed("/slack/commands/", body, **headers).status_code == 200
    replay = post_signed("/slack/commands/", body, **headers)
    assert replay.status_code == 409
    # Re-signed with a fresh timestamp (as a retry would be), the same body is still the same request.
    assert post_signed("/slack/commands/", body).status_code == 409
    assert ChatCommand.objects.count() == 1 and not Deployment.objects.exists()


def test_without_a_signing_secret_slack_is_off(post_signed, slack, settings):
    settings.SHIRUBE_SLACK_SIGNING_SECRET = ""
    assert post_signed("/slack/commands/", slash_body("help", user_id="U0ALICE")).status_code == 404


def test_a_replay_key_outlives_the_five_minute_window(slack):
    from datetime import timedelta

    from django.utils import timezone

    from apps.chatops import verify

    fresh = SlackRequest.objects.create(key="a" * 64)
    old = SlackRequest.objects.create(key="b" * 64)
    SlackRequest.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=11))
    SlackRequest.objects.filter(pk=fresh.pk).update(received_at=timezone.now() - timedelta(minutes=9))
    assert verify.slack_requests_prune() == 1
    assert list(SlackRequest.objects.values_list("key", flat=True)) == ["a" * 64]


def test_old_commands_are_pruned_with_the_notifications_retention(slack):
    from datetime import timedelta

    from django.utils import timezone

    from apps.chatops import services

    old = ChatCommand.objects.create(source="command", slack_team_id="T", slack_user_id="U", text="status x")
    ChatCommand.objects.create(source="command", slack_team_id="T", slack_user_id="U", text="status y")
    ChatCommand.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert services.commands_prune(days=30) == 1
    assert list(ChatCommand.objects.values_list("text", flat=True)) == ["status y"]

"""The outbox: written with the event, delivered at least once, retried with backoff, failures shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from slack_sdk.models.blocks import Block

from apps.notifications import render, services
from apps.notifications.models import Delivery, Notification, Preference
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


def enqueue(**kwargs):
    defaults = {
        "kind": "approval.requested",
        "title": "alice asks you to approve 1.2.3",
        "link": "/teams/payments/",
    }
    return services.notification_enqueue(**{**defaults, **kwargs})


def test_it_is_written_only_when_the_event_commits(slack, smtp, lead):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue(users=[lead])
        raise RuntimeError("the event failed")
    assert not Notification.objects.exists() and not Delivery.objects.exists()
    drain()
    assert slack.calls == [] and smtp.messages == []


def test_a_person_gets_it_on_slack_and_by_email_once(slack, smtp, lead):
    enqueue(users=[lead, lead])
    assert drain() == 2
    [message] = slack.posted("U0CAROL")
    assert "alice asks you to approve 1.2.3" in message["text"]
    assert "http://127.0.0.1:8000/teams/payments/" in message["blocks"][0]["text"]["text"]
    [mail] = smtp.to("carol@example.com")
    assert mail["Subject"] == "[Shirube] alice asks you to approve 1.2.3"
    assert "http://127.0.0.1:8000/teams/payments/" in mail.get_payload()
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_an_opt_out_is_respected_per_kind_and_channel(slack, smtp, lead):
    services.preference_set(user=lead, kind="approval.requested", channel="email", enabled=False)
    enqueue(users=[lead])
    enqueue(kind="approval.decided", title="approved", users=[lead])
    drain()
    assert len(slack.posted("U0CAROL")) == 2
    assert [m["Subject"] for m in smtp.to("carol@example.com")] == ["[Shirube] approved"]
    assert Preference.objects.get(user=lead).enabled is False


def test_nobody_to_tell_writes_nothing(slack, lead):
    services.preference_set(user=lead, kind="approval.requested", channel="slack", enabled=False)
    assert enqueue(users=[lead]) is None  # e-mail is off here (no smtp fixture), Slack opted out
    assert not Notification.objects.exists()


def test_the_team_channel_and_a_dedupe_key(slack, team):
    first = enqueue(kind="readiness.digest", title="digest", team=team, team_channel=True, dedupe_key="d:1")
    again = enqueue(kind="readiness.digest", title="digest", team=team, team_channel=True, dedupe_key="d:1")
    assert first == again
    drain()
    assert len(slack.posted("C0PAYMENTS")) == 1


def test_a_500_is_retried_with_backoff_and_then_delivered_once(slack, lead):
    slack.answer_next(("500", 0))
    enqueue(users=[lead])
    delivery = Delivery.objects.get()
    delay = services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and "500" in delivery.last_error
    assert 10 <= delay <= 12  # the first backoff: 10 s, plus jitter
    assert services.delivery_attempt(delivery_id=delivery.pk) == pytest.approx(delay, abs=1)  # not due yet
    drain()
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    assert len(slack.posted("U0CAROL")) == 1


def test_retry_after_is_honoured_for_every_slack_delivery_and_uses_no_try(slack, lead, member):
    slack.answer_next(("429", 7))
    enqueue(users=[lead, member])
    first, second = Delivery.objects.order_by("pk")
    delay = services.delivery_attempt(delivery_id=first.pk)
    first.refresh_from_db()
    assert delay == 7 and first.status == "pending" and first.attempts == 0
    assert timedelta(seconds=6) < first.next_attempt_at - timezone.now() <= timedelta(seconds=7)
    # The channel waits as a whole: the other delivery is not sent into the rate limit.
    assert 6 < services.delivery_attempt(delivery_id=second.pk) <= 7
    assert len([c for c in slack.calls if c.method == "chat.postMessage"]) == 1


def test_a_timeout_is_a_failed_try(slack, lead):
    slack.answer_next(("hang", 3))
    enqueue(users=[lead])
    delivery = Delivery.objects.get()
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and "TimeoutError" in delivery.last_error


def test_backoff_doubles_and_is_capped_at_ten_minutes():
    waits = [services.backoff_seconds(n) for n in range(1, 9)]
    assert [round(w / b) for w, b in zip(waits, [10, 20, 40, 80, 160, 320, 600, 600], strict=True)] == [1] * 8
    assert max(waits) <= 600


def test_six_failed_tries_mark_it_failed_and_sres_see_it(slack, lead, sre, client_for):
    slack.down = True
    enqueue(users=[lead])
    drain()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == services.MAX_TRIES
    assert "Gave up after 6 tries" in delivery.last_error
    assert len([c for c in slack.calls if c.method == "chat.postMessage"]) == 6
    page = client_for(sre).get("/notifications/?status=failed")
    assert page.status_code == 200
    assert b"Gave up after 6 tries" in page.content and b"U0CAROL" in page.content
    # An SRE sends it again, once Slack is back.
    slack.down = False
    assert client_for(sre).post(f"/notifications/{delivery.pk}/retry/").status_code == 302
    drain()
    assert Delivery.objects.get().status == "sent" and len(slack.posted("U0CAROL")) == 1


def test_the_sent_page_is_for_sres_only(client_for, lead):
    assert client_for(lead).get("/notifications/").status_code == 403


def test_a_channel_that_does_not_exist_fails_at_once(slack, team):
    slack.errors[("chat.postMessage", "C0PAYMENTS")] = "channel_not_found"
    enqueue(kind="flux.health", title="x", team=team, team_channel=True)
    drain()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "failed" and delivery.attempts == 1 and "channel_not_found" in delivery.last_error
    )


def test_an_address_the_mail_server_refuses_fails_at_once(smtp, lead):
    smtp.refuse.add("carol@example.com")
    enqueue(users=[lead])
    drain()
    delivery = Delivery.objects.get(channel="email")
    assert delivery.status == "failed" and "550" in delivery.last_error


def test_slack_down_for_a_while_then_back_delivers_everything_once(slack, smtp, lead, member, team):
    slack.down = True
    for n in range(15):
        enqueue(kind="flux.health", title=f"object {n} not ready", team=team, team_channel=True, users=[])
        enqueue(title=f"approve {n}", users=[lead, member])
    drain(rounds=3)  # three tries each while Slack answers 500
    assert Delivery.objects.filter(channel="slack", status="pending", attempts=3).count() == 45
    slack.down = False
    drain()
    assert Delivery.objects.exclude(status="sent").count() == 0
    for channel, count in (("C0PAYMENTS", 15), ("U0CAROL", 15), ("U0ALICE", 15)):
        texts = [m["text"] for m in slack.posted(channel)]
        assert len(texts) == count and len(set(texts)) == count, channel
    assert len(smtp.to("carol@example.com")) == 15


def test_a_thread_reply_waits_for_its_root_and_answers_in_it(slack, team):
    services.notification_enqueue(
        kind="deployment.progress", title="alice deploys 1.2.3", slack_addresses=["C0DEPLOYS"],
        thread_key="deployment-9", thread_root=True,
    )  # fmt: skip
    services.notification_enqueue(
        kind="deployment.progress", title="committed", thread_key="deployment-9", in_threads=True
    )
    root, reply = Delivery.objects.order_by("pk")
    assert services.delivery_attempt(delivery_id=reply.pk) == 2  # the root is not out yet: no try used
    assert Delivery.objects.get(pk=reply.pk).attempts == 0
    drain()
    root_message, reply_message = slack.posted("C0DEPLOYS")
    assert "thread_ts" not in root_message and reply_message["thread_ts"] == root_message["_ts"]


def test_progress_without_a_thread_goes_nowhere(slack):
    assert services.notification_enqueue(kind="deployment.progress", title="x", thread_key="deployment-1",
                                          in_threads=True) is None  # fmt: skip


def test_a_long_list_stays_within_block_kit_limits_and_links_to_the_rest():
    notification = Notification(
        kind="readiness.digest",
        title="<b>200 findings</b> & more",
        link="/teams/payments/readiness/",
        lines=[f"payments/api-{n}: " + "x" * 1400 for n in range(200)],  # two per section: 100 sections
        actions=[{"action_id": "a", "text": "Open " * 40, "value": "1"}],
    )
    message = render.slack_message(notification)
    blocks = message["blocks"]
    assert len(blocks) <= render.MAX_BLOCKS
    for block in blocks:
        Block.parse(block).validate_json()  # slack_sdk's own checks of Slack's documented limits
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert "&lt;b&gt;200 findings&lt;/b&gt; &amp; more" in blocks[0]["text"]["text"]
    assert blocks[-2]["text"]["text"].startswith(
        "…and 106 more: <http://127.0.0.1:8000/teams/payments/readiness/|"
    )
    assert blocks[-1]["type"] == "actions"


def test_without_slack_the_demo_prints_the_mail_and_the_sent_page_lists_it(
    settings, capsys, lead, sre, client_for
):
    """`make run`: no bot token, and e-mail to the console (scripts/run_demo.py sets SHIRUBE_EMAIL_BACKEND)."""
    settings.SHIRUBE_SLACK_BOT_TOKEN = ""
    settings.SHIRUBE_EMAIL_BACKEND = "console"
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    enqueue(users=[lead])
    assert list(Delivery.objects.values_list("channel", "address")) == [("email", "carol@example.com")]
    drain()
    printed = capsys.readouterr().out
    assert (
        "Subject: [Shirube] alice asks you to approve 1.2.3" in printed and "To: carol@example.com" in printed
    )
    page = client_for(sre).get("/notifications/").content.decode()
    assert "alice asks you to approve 1.2.3" in page and '<tr data-status="sent">' in page

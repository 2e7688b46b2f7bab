"""Channel adapters: one small interface, so a new way of telling (issue 17's webhooks) is one more adapter.

An adapter's `send(delivery)` makes one call and returns what later messages need (a
dict), or raises `Transient` (try again later; `retry_after` when the other side said
when) or `Permanent` (trying again cannot help: a channel that does not exist, an address
the server refuses). The outbox (services.delivery_attempt) owns marks, tries and backoff;
adapters never retry on their own.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from apps.notifications import render
from apps.notifications.models import Delivery, Thread

log = logging.getLogger(__name__)


class Transient(Exception):
    """The call failed in a way a later try can fix; `retry_after` seconds when the server said."""

    def __init__(self, message: str, *, retry_after: float | None = None, counts: bool = True):
        super().__init__(message)
        self.retry_after = retry_after
        # False: not the delivery's failure (a rate limit, a thread root not sent yet): no try used.
        self.counts = counts


class Permanent(Exception):
    """Trying again cannot help; the delivery is marked failed at once."""


class Channel(Protocol):
    name: str

    def enabled(self) -> bool: ...

    def send(self, delivery: Delivery) -> dict: ...


CHANNELS: dict[str, Channel] = {}


def channel_register(channel: Channel) -> None:
    CHANNELS[channel.name] = channel


# Slack Web API errors that no later try fixes (https://docs.slack.dev/reference/methods/chat.postMessage).
SLACK_PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "no_permission", "missing_scope", "invalid_blocks", "msg_too_long", "no_text",
    "user_not_found", "cannot_dm_bot", "restricted_action", "team_access_not_granted",
}  # fmt: skip


# Kinds that, answered in a thread, are also shown in the channel (Slack's reply_broadcast).
BROADCAST_IN_THREAD = {"deployment.finished"}


def slack_client(*, timeout: float | None = None):
    """The official client, at SHIRUBE_SLACK_API_URL, with its own retries off (the outbox retries)."""
    from slack_sdk import WebClient

    return WebClient(
        token=settings.SHIRUBE_SLACK_BOT_TOKEN,
        base_url=settings.SHIRUBE_SLACK_API_URL,
        timeout=timeout or settings.SHIRUBE_SLACK_TIMEOUT,
        retry_handlers=[],
    )


def slack_call(method: str, **kwargs) -> dict:
    """One Web API call; its failures sorted into Transient and Permanent."""
    from slack_sdk.errors import SlackApiError

    client = slack_client()
    try:
        response = client.api_call(method, json=kwargs)
    except SlackApiError as exc:
        response = exc.response
        status, error = (
            response.status_code,
            (response.data or {}).get("error", "") if isinstance(response.data, dict) else "",
        )
        if status == 429:
            retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after") or "30"
            try:
                seconds = max(1.0, float(retry_after))
            except ValueError:
                seconds = 30.0
            raise Transient(
                f"Slack rate limit: retry after {seconds:g} s", retry_after=seconds, counts=False
            ) from None
        if status >= 500 or status == 408:
            raise Transient(f"Slack answered {status}") from None
        if error in SLACK_PERMANENT:
            raise Permanent(f"Slack refused it: {error}") from None
        raise Transient(f"Slack answered {status}: {error or 'not ok'}") from None
    except OSError as exc:  # connection refused, reset, DNS, a timeout (socket.timeout is an OSError)
        raise Transient(f"Slack could not be reached: {type(exc).__name__}") from None
    return response.data if isinstance(response.data, dict) else {}


class SlackChannel:
    name = "slack"

    def enabled(self) -> bool:
        return bool(settings.SHIRUBE_SLACK_BOT_TOKEN)

    def send(self, delivery: Delivery) -> dict:
        notification = delivery.notification
        message = render.slack_message(notification)
        thread_ts = None
        if notification.thread_key:
            thread = Thread.objects.filter(key=notification.thread_key, address=delivery.address).first()
            if thread is not None and thread.root_id != delivery.pk:
                if thread.ts:
                    thread_ts = thread.ts
                elif thread.root is not None and thread.root.status != Delivery.Status.FAILED:
                    # The thread's first message is not out yet: answering it needs its ts.
                    raise Transient("waiting for the thread's first message", retry_after=2, counts=False)
                earlier = Delivery.objects.filter(
                    channel=self.name, address=delivery.address, pk__lt=delivery.pk,
                    notification__thread_key=notification.thread_key,
                    status__in=(Delivery.Status.PENDING, Delivery.Status.SENDING),
                )  # fmt: skip
                if earlier.exists():
                    # A thread reads in order: a step waits for the one before (a failed one does not block).
                    raise Transient("waiting for the thread's earlier message", retry_after=1, counts=False)
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        if thread_ts and notification.kind in BROADCAST_IN_THREAD:
            extra["reply_broadcast"] = True  # an outcome shows in the channel too, not only in the thread
        data = slack_call(
            "chat.postMessage", channel=delivery.address, text=message["text"], blocks=message["blocks"],
            unfurl_links=False, unfurl_media=False, **extra,
        )  # fmt: skip
        return {"channel": data.get("channel", ""), "ts": data.get("ts", "")}


class EmailChannel:
    name = "email"

    def enabled(self) -> bool:
        return settings.SHIRUBE_EMAIL_BACKEND != "off"

    def send(self, delivery: Delivery) -> dict:
        subject, body = render.email_message(delivery.notification)
        message = EmailMessage(
            subject=subject,
            body=body,
            to=[delivery.address],
            headers={"X-Shirube-Delivery": str(delivery.pk)},
            connection=get_connection(fail_silently=False),
        )
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise Permanent(f"The mail server refused the address ({codes[0]})") from None
            raise Transient(f"The mail server deferred the address ({codes[0]})") from None
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise Permanent(f"The mail server refused the message ({exc.smtp_code})") from None
            raise Transient(f"The mail server answered {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise Transient(f"The mail server could not be reached: {type(exc).__name__}") from None
        return {}


def channels_register_builtin() -> None:
    """Slack and e-mail (registering twice replaces: the registry is keyed by name)."""
    channel_register(SlackChannel())
    channel_register(EmailChannel())

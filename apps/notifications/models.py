"""The notification outbox: what to tell, and one delivery per person or channel and way of telling.

A notification is written in the same transaction as the event that causes it, so an event
is never committed without its message nor a message sent for an event rolled back. Its
deliveries are sent by a Celery task (tasks.delivery_send), at least once: a delivery is
marked `sending` before the call and `sent` after it, so only a worker dying between the two
can make a duplicate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Team


class Notification(models.Model):
    """One thing to tell: a title, some text, a link to the page, optional list lines and buttons."""

    kind = models.CharField(max_length=50)  # a key of kinds.KINDS
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)  # a path on the site (made absolute when sent)
    # List items (a digest's findings): cut to what a message may hold, with a link to the rest.
    lines = models.JSONField(default=list, blank=True)
    # Buttons for Slack: [{"action_id", "text", "value", "style"}]; e-mail shows the link instead.
    actions = models.JSONField(default=list, blank=True)
    # Slack deliveries of notifications that share a key post in one thread (a deployment's progress).
    thread_key = models.CharField(max_length=100, blank=True)
    # A notification that must exist once (a day's digest): a second enqueue with the key finds it.
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=~models.Q(dedupe_key=""), name="notification_dedupe_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class Delivery(models.Model):
    """One notification to one address on one channel, and how far its sending got."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=20)  # a key of channels.CHANNELS: slack, email (webhook: issue 17)
    address = models.CharField(max_length=300)  # a Slack channel or user id, an e-mail address, ...
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)  # tries that used up one of MAX_TRIES
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sending_at = models.DateTimeField(null=True, blank=True)  # marked before the call
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What the channel answered that later messages need (Slack: the channel and the message ts).
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["status", "sending_at"], name="delivery_sending"),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} {self.status}"


class Thread(models.Model):
    """A Slack message that later notifications with the same key answer in its thread."""

    key = models.CharField(max_length=100)
    address = models.CharField(max_length=300)  # the Slack channel
    root = models.ForeignKey(Delivery, null=True, on_delete=models.SET_NULL, related_name="+")
    ts = models.CharField(max_length=40, blank=True)  # the root message's ts, once it is sent
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "address"], name="thread_key_address")]

    def __str__(self) -> str:
        return f"{self.key} in {self.address}"


class Preference(models.Model):
    """A person's choice for one kind on one channel. No row: the kind's default (on)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=50)
    channel = models.CharField(max_length=20)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "channel"], name="preference_user_kind_channel")
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel}: {'on' if self.enabled else 'off'}"


class SlackLink(models.Model):
    """Which Slack user a Shirube user is: the person acting in chat, and where direct messages go."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_link")
    slack_team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    via = models.CharField(max_length=10)  # email (users.info) or code (the settings page's link flow)
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slack_team_id", "slack_user_id"], name="slack_link_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} = {self.slack_team_id}/{self.slack_user_id}"


class SlackLinkCode(models.Model):
    """A one-time code shown on the settings page and typed in Slack (`/shirube link CODE`); kept hashed."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link code of {self.user_id}"


class StateWatch(models.Model):
    """The last state of something watched (a Flux object's readiness) and the last state told.

    Debounces a state-change notification: one per change of state, at most one per key per
    quiet period; a change inside the period waits in `pending` and is sent when the period
    ends if the state is still not the one last told (a flap that came back tells nothing).
    """

    key = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=20)
    notified_state = models.CharField(max_length=20, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    quiet_seconds = models.PositiveIntegerField(default=900)
    pending = models.JSONField(default=dict, blank=True)  # notification_enqueue's arguments for `state`
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["notified_at"], name="state_watch_notified_at")]

    def __str__(self) -> str:
        return f"{self.key}: {self.state} (told {self.notified_state or 'nothing'})"

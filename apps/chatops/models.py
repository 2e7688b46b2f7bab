"""What Slack asked, once: the replay guard, and the command or button press queued for a worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SlackRequest(models.Model):
    """A verified request's identity (the SHA-256 of its body), kept past the 5-minute window.

    A request whose body was seen is a replay (or a retry) and is handled no further. Slack's
    bodies carry a `trigger_id` unique to each invocation, so two real commands never collide.
    """

    key = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.key[:12]


class ChatCommand(models.Model):
    """A slash command, button press or form submission, acknowledged at once and run by a worker."""

    class Source(models.TextChoices):
        COMMAND = "command", "Slash command"
        ACTION = "action", "Button"
        VIEW = "view", "Form"

    source = models.CharField(max_length=10, choices=Source.choices)
    slack_team_id = models.CharField(max_length=32)
    slack_user_id = models.CharField(max_length=32)
    channel_id = models.CharField(max_length=32, blank=True)
    text = models.CharField(
        max_length=1000
    )  # the command's text, or "approve-request 12", "decline-request 12 why"
    response_url = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Slack takes at most 5 answers per response_url (in 30 minutes): counted here.
    responses_sent = models.PositiveSmallIntegerField(default=0)
    answer = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.slack_user_id}: {self.text}"

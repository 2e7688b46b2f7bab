"""The audit log: one row per thing that happened, never changed or deleted."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Team


class AppendOnly(Exception):
    pass


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)  # kept if the user is deleted
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="audit_events")
    action = models.CharField(max_length=50)  # e.g. flux.suspend
    outcome = models.CharField(max_length=20)  # requested, succeeded, failed, refused, timed out
    target = models.CharField(max_length=300)  # cluster/namespace/Kind/name
    parameters = models.JSONField(default=dict)
    message = models.TextField(blank=True)
    correlation = models.CharField(max_length=40, blank=True, db_index=True)  # ties request and result
    # How the request came in: the web pages, Slack (apps.chatops), the API; the system for its own work.
    channel = models.CharField(max_length=10, default="web")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnly("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Audit events are never deleted.")

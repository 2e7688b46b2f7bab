"""API tokens (personal and team service tokens) and the Idempotency-Key records of API requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts.models import Team


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the value is shown once, when it is made.

    Personal tokens act as their owner, narrowed by their scopes. Service tokens belong to a
    team and act as a service account (`user`, made for the token, in no team and with no
    password), only on the environments listed, and only where the environment allows them.
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SERVICE = "service", "Team service"

    class Scope(models.TextChoices):
        READ = "read", "read"
        DEPLOY = "deploy", "deploy"
        APPROVE = "approve", "approve"
        FLUX = "flux", "flux"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=80)
    # The value's first characters after the prefix: enough to tell tokens apart in a list, and
    # to match a leaked token to its row, without being able to use it.
    hint = models.CharField(max_length=24)
    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens")
    environments = models.ManyToManyField("environments.Environment", blank=True, related_name="+")
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def audit_target(self) -> str:
        return f"api-token/{self.pk}/{self.hint}"


class IdempotentRequest(models.Model):
    """One POST's Idempotency-Key, per token: the body's hash and, once finished, the answer."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_digest = models.CharField(max_length=64)
    path = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # None while in flight
    response = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_per_token")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status or 'in flight'})"

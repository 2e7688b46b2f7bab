"""Readiness results per workload, findings with their first-seen time, waivers, restarts, scores."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Team
from apps.clusters.models import Cluster, Namespace


def _rule_choices() -> list[tuple[str, str]]:
    from apps.readiness.rules import RULES

    return [(r.id, r.title) for r in RULES.values()]


class Assessment(models.Model):
    """One workload's last evaluation: which rules applied (the scorecard's columns)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    namespace = models.CharField(max_length=63)
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64)
    applicable = models.JSONField(default=list)  # rule ids
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="assessment_uid")]
        indexes = [models.Index(fields=["team"])]

    def __str__(self) -> str:
        return f"{self.cluster_id}/{self.namespace}/{self.kind}/{self.name}"


class FindingQuerySet(models.QuerySet):
    def active(self, now=None):
        """Failing and not exempted now (an expired waiver no longer exempts)."""
        now = now or timezone.now()
        return self.filter(Q(exempt_reason="") | Q(exempt_until__lte=now))


class Finding(models.Model):
    """A rule a workload fails, since `first_seen`; rewritten only when what it says changes."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    namespace = models.CharField(max_length=63)
    workload_kind = models.CharField(max_length=20)
    workload_name = models.CharField(max_length=253)
    workload_uid = models.CharField(max_length=64)
    rule = models.CharField(max_length=40)
    severity = models.CharField(max_length=10)
    detail = models.TextField(blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    # Why it does not count: an ignore annotation (no end) or a waiver (until its expiry).
    exempt_reason = models.CharField(max_length=500, blank=True)
    exempt_until = models.DateTimeField(null=True, blank=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "workload_uid", "rule"], name="finding_workload_rule")
        ]
        indexes = [
            models.Index(fields=["team", "rule"]),
            models.Index(fields=["cluster", "namespace", "workload_kind", "workload_name"]),
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.namespace}/{self.workload_name}"

    def is_exempt(self, now=None) -> bool:
        now = now or timezone.now()
        return bool(self.exempt_reason) and (self.exempt_until is None or self.exempt_until > now)


# A waived finding says "Waived by an SRE: <reason>" in Finding.exempt_reason (500 characters).
WAIVER_REASON_MAX_LENGTH = 400


class Waiver(models.Model):
    """An SRE's decision that a rule does not apply somewhere, until it expires."""

    rule = models.CharField(max_length=40, choices=_rule_choices)
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Empty: any."
    )
    namespace = models.CharField(max_length=63, blank=True, help_text="Empty: any namespace.")
    workload_name = models.CharField(max_length=253, blank=True, help_text="Empty: every workload.")
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["expires_at"]

    def __str__(self) -> str:
        where = "/".join(p for p in (self.namespace, self.workload_name) if p) or "everywhere"
        return f"{self.rule} waived for {where} until {self.expires_at:%Y-%m-%d}"

    def clean(self) -> None:
        if self.expires_at and self.expires_at <= timezone.now() and not self.pk:
            raise ValidationError({"expires_at": "A waiver must expire in the future."})
        if not (self.namespace or self.cluster_id):
            raise ValidationError("Name a cluster or a namespace: a waiver for every team is a rule change.")

    def owning_team(self) -> Team | None:
        """The one team whose namespace the waiver names; None for any namespace or several teams."""
        if not self.namespace:
            return None
        namespaces = Namespace.objects.filter(name=self.namespace, team__isnull=False)
        if self.cluster_id:
            namespaces = namespaces.filter(cluster_id=self.cluster_id)
        team_ids = set(namespaces.values_list("team_id", flat=True))
        return Team.objects.filter(pk=team_ids.pop()).first() if len(team_ids) == 1 else None

    def cluster_ids(self) -> list[int]:
        """The clusters whose findings it can change: its own, or every enabled one."""
        if self.cluster_id:
            return [self.cluster_id]
        return list(Cluster.objects.filter(enabled=True).values_list("pk", flat=True))

    @property
    def audit_target(self) -> str:
        where = f"{self.cluster.name if self.cluster_id else '*'}/{self.namespace or '*'}"
        return f"{where}/Waiver/{self.rule}" + (f"/{self.workload_name}" if self.workload_name else "")

    def covers(self, *, cluster_id: int, namespace: str, name: str, rule: str) -> bool:
        return (
            self.rule == rule
            and (self.cluster_id is None or self.cluster_id == cluster_id)
            and (not self.namespace or self.namespace == namespace)
            and (not self.workload_name or self.workload_name == name)
        )


class RestartSample(models.Model):
    """A pod's restart count when it changed (or was first seen); a day's worth is kept."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    pod_uid = models.CharField(max_length=64)
    namespace = models.CharField(max_length=63)
    workload_kind = models.CharField(max_length=20, blank=True)
    workload_name = models.CharField(max_length=253, blank=True)
    restarts = models.IntegerField()
    # The pod started inside the window: every restart it counts happened inside it.
    pod_created = models.DateTimeField(null=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["cluster", "pod_uid", "seen_at"])]

    def __str__(self) -> str:
        return f"{self.pod_uid}: {self.restarts} at {self.seen_at}"


class TeamScore(models.Model):
    """A team's readiness score on one day, kept for the trend."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    score = models.IntegerField()  # percent of applicable checks passed
    checks = models.IntegerField(default=0)
    failing = models.IntegerField(default=0)
    workloads = models.IntegerField(default=0)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["team", "day"], name="teamscore_team_day")]

    def __str__(self) -> str:
        return f"{self.team_id} {self.day}: {self.score}"

"""Clusters, and the snapshot of what each one runs, written only by the sync."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.accounts.models import SLUG_VALIDATOR, Team
from apps.clusters.fields import SnapshotJSONField
from apps.clusters.links import DATADOG_PLACEHOLDERS, LOGS_PLACEHOLDERS, link_template_problems


class Cluster(models.Model):
    class Stage(models.TextChoices):
        DEVELOPMENT = "development", "Development"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"

    class Connection(models.TextChoices):
        KUBECONFIG = "kubeconfig", "Kubeconfig file on the server"
        IN_CLUSTER = "in_cluster", "In-cluster service account"
        EKS = "eks", "EKS (token from the worker's AWS credentials)"

    name = models.SlugField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.STAGING)
    enabled = models.BooleanField(default=True)
    connection = models.CharField(max_length=20, choices=Connection.choices)
    # Paths only: the kubeconfig is a mounted secret, and its exec plugins run
    # commands, so its contents are never stored or uploaded.
    kubeconfig_path = models.CharField(max_length=500, blank=True)
    context = models.CharField(max_length=200, blank=True)
    eks_cluster_name = models.CharField(max_length=100, blank=True)
    eks_region = models.CharField(max_length=30, blank=True)
    logs_url_template = models.CharField(
        max_length=1000,
        blank=True,
        help_text="Grafana Explore URL for Loki with {query} (URL-encoded LogQL), "
        "{cluster}, {namespace}, {pod}.",
    )
    datadog_url_template = models.CharField(
        max_length=1000, blank=True, help_text="Datadog URL with {cluster}, {namespace}, {pod}."
    )
    last_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What pages show of the last sync's failures (summaries without hosts, ports or
    # server text), and the details behind them, for SREs.
    last_error = models.TextField(blank=True, editable=False)
    last_error_detail = models.TextField(blank=True, editable=False)
    kind_errors = SnapshotJSONField(default=dict, blank=True, editable=False)
    kind_error_details = SnapshotJSONField(default=dict, blank=True, editable=False)
    # Malformed objects the last sync left out: kind -> {count, objects: ["ns/name: why", ...]}.
    skipped_objects = SnapshotJSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_production(self) -> bool:
        return self.stage == self.Stage.PRODUCTION

    def clean(self) -> None:
        """Link templates follow the rule in links.py (http(s) only, bare named placeholders)."""
        errors = {
            field: problems
            for field, placeholders in (
                ("logs_url_template", LOGS_PLACEHOLDERS),
                ("datadog_url_template", DATADOG_PLACEHOLDERS),
            )
            if (problems := link_template_problems(getattr(self, field), placeholders))
        }
        if errors:
            raise ValidationError(errors)


class TeamNamespace(models.Model):
    """An explicit namespace assignment, in addition to the team label."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="namespaces")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    namespace = models.CharField(max_length=63)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "namespace"], name="teamnamespace_one_team_per_namespace"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace} → {self.team}"


class SyncedObject(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    namespace = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=253)
    uid = models.CharField(max_length=64)
    resource_version = models.CharField(max_length=32)
    labels = SnapshotJSONField(default=dict)
    annotations = SnapshotJSONField(default=dict)
    created = models.DateTimeField(null=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class Namespace(SyncedObject):
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    # More than one team claims it: shown to SREs, owned by nobody.
    conflict = SnapshotJSONField(default=list)
    phase = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="ns_uid")]
        indexes = [models.Index(fields=["cluster", "name"])]


class Workload(SyncedObject):
    # The kinds these rows hold; the top-level ones are what a team runs (pages, readiness):
    # ReplicaSets belong to Deployments, and a CronJob's Jobs are judged through the CronJob.
    KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
    TOP_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")

    kind = models.CharField(max_length=20)
    desired = models.IntegerField(null=True)
    ready = models.IntegerField(null=True)
    updated = models.IntegerField(null=True)
    available = models.IntegerField(null=True)
    generation = models.BigIntegerField(null=True)
    observed_generation = models.BigIntegerField(null=True)
    owner = SnapshotJSONField(default=dict)  # {kind, name, uid} of the controller owner
    template = SnapshotJSONField(default=dict)  # reduced pod template
    details = SnapshotJSONField(default=dict)  # kind-specific: schedule, conditions, selector

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="workload_uid")]
        indexes = [models.Index(fields=["cluster", "namespace", "kind"])]


class Pod(SyncedObject):
    phase = models.CharField(max_length=20, blank=True)
    ready_containers = models.IntegerField(default=0)
    total_containers = models.IntegerField(default=0)
    restarts = models.IntegerField(default=0)
    reason = models.CharField(max_length=100, blank=True)  # waiting/terminated/unschedulable
    message = models.TextField(blank=True)
    last_termination_reason = models.CharField(max_length=100, blank=True)
    last_exit_code = models.IntegerField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    node = models.CharField(max_length=253, blank=True)
    images = SnapshotJSONField(default=list)
    owner = SnapshotJSONField(default=dict)  # the controller owner as a value
    workload_kind = models.CharField(max_length=20, blank=True)  # top-level, through ReplicaSets
    workload_name = models.CharField(max_length=253, blank=True)
    service_account = models.CharField(max_length=253, blank=True)
    started_at = models.DateTimeField(null=True)
    spec = SnapshotJSONField(default=dict)  # reduced: containers, grace period
    problem = models.CharField(max_length=40, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="pod_uid")]
        indexes = [models.Index(fields=["cluster", "namespace"])]


class ServiceAccount(SyncedObject):
    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="sa_uid")]


class PodDisruptionBudget(SyncedObject):
    selector = SnapshotJSONField(default=dict)
    min_available = models.CharField(max_length=20, blank=True)
    max_unavailable = models.CharField(max_length=20, blank=True)
    current_healthy = models.IntegerField(null=True)
    desired_healthy = models.IntegerField(null=True)
    disruptions_allowed = models.IntegerField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="pdb_uid")]


class WarningEvent(SyncedObject):
    reason = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    involved_kind = models.CharField(max_length=40, blank=True)
    involved_name = models.CharField(max_length=253, blank=True)
    involved_uid = models.CharField(max_length=64, blank=True)
    count = models.IntegerField(default=1)
    last_seen = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="event_uid")]
        indexes = [models.Index(fields=["cluster", "namespace", "involved_name"])]


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        PARTIAL = "partial", "Some kinds failed"
        FAILED = "failed", "Failed (unreachable, or an error; see the details)"
        SKIPPED = "skipped", "Skipped (another sync held the lock)"
        ABANDONED = "abandoned", "Abandoned (worker stopped mid-sync)"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True)
    duration_ms = models.IntegerField(null=True)
    seen = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)  # malformed objects left out
    kinds = SnapshotJSONField(default=dict)  # kind -> {status, error, summary, seen, skipped, ...}
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["cluster", "status"])]

    def __str__(self) -> str:
        return f"{self.cluster} {self.status} {self.started_at:%Y-%m-%d %H:%M:%S}"


class SyncLock(models.Model):
    """The database lock used when no Redis is configured."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"lock {self.cluster_id} held by {self.holder or 'nobody'}"


class FluxObject(SyncedObject):
    """A Flux source, Kustomization, HelmRelease or image object, as last synced."""

    kind = models.CharField(max_length=40)
    api_version = models.CharField(max_length=100)
    ready_status = models.CharField(max_length=10, blank=True)  # True, False, Unknown, or "" (none yet)
    ready_reason = models.CharField(max_length=100, blank=True)
    ready_message = models.TextField(blank=True)
    suspended = models.BooleanField(default=False)
    interval = models.CharField(max_length=20, blank=True)
    source_ref = SnapshotJSONField(default=dict)  # {kind, name, namespace}
    target_namespace = models.CharField(max_length=63, blank=True)
    path = models.CharField(max_length=500, blank=True)
    last_handled_reconcile_at = models.CharField(max_length=64, blank=True)
    generation = models.BigIntegerField(null=True)
    observed_generation = models.BigIntegerField(null=True)
    last_applied_revision = models.CharField(max_length=200, blank=True)
    last_attempted_revision = models.CharField(max_length=200, blank=True)
    artifact_revision = models.CharField(max_length=200, blank=True)
    details = SnapshotJSONField(default=dict)  # kind-specific: Helm history, image policy result…

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "uid"], name="flux_uid")]
        indexes = [
            models.Index(fields=["cluster", "namespace"]),
            models.Index(fields=["cluster", "target_namespace"]),
        ]

    @property
    def is_stale(self) -> bool:
        """The controller has not yet reported on the newest spec."""
        return bool(
            self.generation
            and self.observed_generation is not None
            and self.generation != self.observed_generation
        )

    @property
    def revision(self) -> str:
        return self.last_applied_revision or self.artifact_revision or self.last_attempted_revision


class FluxAction(models.Model):
    """A reconcile, suspend or resume someone asked for, and how far it got."""

    class Kind(models.TextChoices):
        RECONCILE = "reconcile", "Reconcile now"
        SUSPEND = "suspend", "Suspend"
        RESUME = "resume", "Resume"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WAITING = "waiting", "Waiting for Flux"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=40)  # the Flux kind acted on
    api_version = models.CharField(max_length=100)
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=253)
    action = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, default="web")  # where it was asked (web, slack): audited
    token = models.CharField(max_length=64, blank=True)  # the requestedAt value sent to Flux
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # When Flux was asked (the deadline runs from here), and the last step taken: a lost task shows here.
    step_started_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["cluster", "namespace", "kind", "name"])]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.namespace}/{self.name} ({self.status})"

    @property
    def target(self) -> str:
        return f"{self.cluster.name}/{self.namespace}/{self.kind}/{self.name}"

    @property
    def done(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED, self.Status.TIMED_OUT}

"""Self-service environments, the deployments made to them, and the approvals they need."""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from apps.accounts.models import SLUG_VALIDATOR, Team
from apps.clusters.models import Cluster
from apps.environments.gitops import branch_problem, repo_url_problem
from apps.lessons.models import Phase

IMAGE_POLICY_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
OBJECT_REF_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


# An approval is for one tag now, not a standing permission; a bound also keeps
# "now + lifetime" a date (a huge value overflowed into a 500).
APPROVAL_TTL_MAX_HOURS = 24 * 30

IMAGE_POLICY_VALIDATOR = RegexValidator(IMAGE_POLICY_PATTERN, "Expected the form payments:checkout-api.")
OBJECT_REF_VALIDATOR = RegexValidator(OBJECT_REF_PATTERN, "Expected the form namespace/name.")


def validate_repo_url(value: str) -> None:
    """https, ssh or git@host:path; local paths only with SHIRUBE_GIT_ALLOW_LOCAL (the writer checks too)."""
    if problem := repo_url_problem(value, allow_local=settings.SHIRUBE_GIT_ALLOW_LOCAL):
        raise ValidationError(problem)


def validate_branch(value: str) -> None:
    if problem := branch_problem(value):
        raise ValidationError(problem)


# What an SRE sets (the admin's form); a change to any of them is an audit event.
ENVIRONMENT_SETTINGS = [
    "team", "app", "stage", "cluster", "namespace", "kustomization", "repo_url", "branch",
    "kustomization_path", "image", "image_policy", "image_repository", "promotes_from",
    "required_role", "required_phases", "requires_approval", "approval_ttl_hours", "approvals_notify_sres",
]  # fmt: skip


class Environment(models.Model):
    """A team's application in one stage on one cluster, deployed by Flux from a GitOps repository."""

    class Stage(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"

    class Role(models.TextChoices):
        MEMBER = "member", "Any member of the team"
        LEAD = "lead", "A lead of the team"
        SRE = "sre", "An SRE"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="environments")
    app = models.SlugField(max_length=40, validators=[SLUG_VALIDATOR], help_text="e.g. checkout-api")
    # An environment's stage is its own: many companies run staging and production
    # namespaces on one cluster, so it is not taken from the cluster's stage.
    stage = models.CharField(max_length=20, choices=Stage.choices)
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="environments")
    namespace = models.CharField(max_length=63, help_text="One of the team's namespaces on that cluster.")
    kustomization = models.CharField(
        max_length=200,
        validators=[OBJECT_REF_VALIDATOR],
        help_text="The Flux Kustomization that deploys it, as namespace/name.",
    )
    repo_url = models.CharField(
        max_length=500,
        validators=[validate_repo_url],
        help_text="The GitOps repository: https://host/path, ssh://host/path or git@host:path "
        "(a local path only where SHIRUBE_GIT_ALLOW_LOCAL is on).",
    )
    branch = models.CharField(max_length=200, default="main", validators=[validate_branch])
    kustomization_path = models.CharField(
        max_length=500,
        help_text="Path in the repository of the kustomization.yaml whose images: entry sets the tag.",
    )
    image = models.CharField(max_length=300, help_text="The image name as written in the images: entry.")
    image_policy = models.CharField(
        max_length=200,
        blank=True,
        validators=[IMAGE_POLICY_VALIDATOR],
        help_text="The Flux ImagePolicy as namespace:name, if the environment can follow image automation.",
    )
    image_repository = models.CharField(
        max_length=200,
        blank=True,
        validators=[OBJECT_REF_VALIDATOR],
        help_text="The Flux ImageRepository as namespace/name, whose scans list the tags that exist.",
    )
    promotes_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="promotes_to",
        help_text="Tags reach this environment only by promotion from there (where they run healthy).",
    )
    # Gates.
    required_role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    required_phases = models.ManyToManyField(
        Phase,
        blank=True,
        related_name="+",
        help_text="Phases a developer must have completed before deploying here (SREs are exempt).",
    )
    requires_approval = models.BooleanField(
        default=False, help_text="A lead of the team or an SRE, never the requester, approves each tag."
    )
    approval_ttl_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(APPROVAL_TTL_MAX_HOURS)],
        help_text=f"How long an approval lasts. Default: SHIRUBE_APPROVAL_TTL_HOURS (24); "
        f"at most {APPROVAL_TTL_MAX_HOURS} hours (30 days).",
    )
    approvals_notify_sres = models.BooleanField(
        "tell SREs of approval requests", default=False,
        help_text="Approval requests go to the team's leads; with this, to the SREs too.",
    )  # fmt: skip
    # What git says, refreshed by a task (page views never touch git).
    git_sha = models.CharField(max_length=40, blank=True, editable=False)
    git_tag = models.CharField(max_length=128, blank=True, editable=False)
    git_digest = models.CharField(max_length=100, blank=True, editable=False)
    git_marker = models.CharField(max_length=200, blank=True, editable=False)  # the setter's policy
    git_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    git_error = models.TextField(blank=True, editable=False)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip
    pinned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["team__slug", "app", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["team", "app", "stage"], name="environment_app_stage_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.slug}"

    @property
    def slug(self) -> str:
        """`<app>-<stage>`: the environment's name in URLs and messages."""
        return f"{self.app}-{self.stage}"

    @property
    def audit_target(self) -> str:
        """What the environment's audit events name as their target."""
        return f"{self.cluster.name}/{self.namespace}/Environment/{self.slug}"

    @property
    def is_production(self) -> bool:
        return self.stage == self.Stage.PRODUCTION

    @property
    def kustomization_namespace(self) -> str:
        return self.kustomization.partition("/")[0]

    @property
    def kustomization_name(self) -> str:
        return self.kustomization.partition("/")[2]

    @property
    def approval_ttl(self) -> timedelta:
        # Bounded here too: a row saved before the bound existed must not overflow a date.
        hours = self.approval_ttl_hours or settings.SHIRUBE_APPROVAL_TTL_HOURS
        return timedelta(hours=min(hours, APPROVAL_TTL_MAX_HOURS))

    @property
    def follows_automation(self) -> bool:
        """Git carries the setter marker, so ImageUpdateAutomation moves the tag."""
        return bool(self.git_marker)

    @property
    def tag_changes_gated(self) -> bool:
        """A new tag needs an approval or a promotion here, so image automation must never move it."""
        return self.is_production or self.requires_approval or self.promotes_from_id is not None

    @property
    def pinned(self) -> bool:
        return bool(self.image_policy) and bool(self.git_sha) and not self.git_marker


class Approval(models.Model):
    """A lead's or an SRE's yes to one tag in one environment, for a limited time."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="approvals")
    tag = models.CharField(max_length=128)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    declined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["environment", "tag"])]

    def __str__(self) -> str:
        return f"{self.environment} {self.tag} ({self.state})"

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.declined_at:
            return "declined"
        if self.expires_at <= timezone.now():
            return "expired"
        return "approved" if self.approved_at else "pending"


class Deployment(models.Model):
    """One change to an environment through git, followed until Flux has rolled it out."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        PROMOTE = "promote", "Promote"
        ROLLBACK = "rollback", "Roll back"
        PIN = "pin", "Pin the current tag"
        FOLLOW = "follow", "Follow automation again"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        COMMITTING = "committing", "Committing"
        COMMITTED = "committed", "Committed"
        RECONCILING = "reconciling", "Reconciling"
        HEALTHY = "healthy", "Healthy"
        DONE = "done", "Done"  # a git-only change (pin, follow): nothing to roll out
        FAILED = "failed", "Failed"

    ACTIVE = (Status.COMMITTING, Status.COMMITTED, Status.RECONCILING)
    FINISHED = (Status.HEALTHY, Status.DONE, Status.FAILED)

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="deployments")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    tag = models.CharField(max_length=128)
    previous_tag = models.CharField(max_length=128, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # One per form rendering: a double submission finds the first request instead of deploying twice.
    idempotency_key = models.CharField(max_length=64, unique=True)
    approval = models.ForeignKey(Approval, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Where the request came from (web, slack): its audit events say so.
    channel = models.CharField(max_length=10, default="web")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    step_started_at = models.DateTimeField(default=timezone.now)
    polled_at = models.DateTimeField(null=True, blank=True)  # the last step taken: a lost task shows here
    sha = models.CharField(max_length=40, blank=True)
    pinned = models.BooleanField(default=False)  # this commit took the setter marker off
    reconcile_token = models.CharField(max_length=64, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)  # Flux applied our commit
    # The worker holding the commit step, its last sign of life, and the commit it handed to
    # `git push` (recorded first): a worker that dies mid-commit is taken over, and the remote
    # asked about that commit, instead of the environment waiting and the commit being made twice.
    worker = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pushing_sha = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)  # progress, or why it failed
    failed_step = models.CharField(max_length=20, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["environment", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.tag} to {self.environment} ({self.status})"

    @property
    def done(self) -> bool:
        return self.status in self.FINISHED

    @property
    def target(self) -> str:
        return self.environment.audit_target

"""What the API answers: each schema reads the model (or a selector's row) it is named for."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse
from ninja import Field, Schema


class TeamOut(Schema):
    slug: str
    name: str


class MembershipOut(Schema):
    team: str
    role: str


class MeOut(Schema):
    username: str
    sre: bool
    token: str  # the token's name
    token_kind: str
    scopes: list[str]
    teams: list[MembershipOut]
    completed_phases: list[str]


class NamespaceOut(Schema):
    cluster: str = Field(alias="cluster.name")
    name: str


class WorkloadOut(Schema):
    cluster: str = Field(alias="cluster.name")
    namespace: str
    kind: str
    name: str
    desired: int | None
    ready: int | None
    updated: int | None
    available: int | None


class PodOut(Schema):
    cluster: str = Field(alias="cluster.name")
    namespace: str
    name: str
    phase: str
    ready_containers: int
    total_containers: int
    restarts: int
    reason: str
    problem: str
    workload_kind: str
    workload_name: str
    images: list[str]
    node: str


class FluxObjectOut(Schema):
    id: int
    cluster: str = Field(alias="cluster.name")
    kind: str
    namespace: str
    name: str
    ready_status: str
    ready_reason: str
    ready_message: str
    suspended: bool
    last_applied_revision: str


class EnvironmentOut(Schema):
    slug: str
    app: str
    stage: str
    cluster: str
    namespace: str
    git_tag: str
    git_sha: str
    pinned: bool
    follows_automation: bool
    requires_approval: bool
    allow_service_tokens: bool
    promotes_from: str | None
    live_state: str
    running: dict[str, int]
    ready_pods: int
    pods: int


class StepOut(Schema):
    at: datetime
    action: str
    outcome: str
    message: str


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


class DeploymentOut(Schema):
    id: int
    team: str = Field(alias="environment.team.slug")
    environment: str = Field(alias="environment.slug")
    kind: str
    tag: str
    previous_tag: str
    status: str
    done: bool
    message: str
    failed_step: str
    sha: str
    channel: str
    requested_by: str | None
    requested_at: datetime
    finished_at: datetime | None
    url: str
    steps: list[StepOut] = []

    @staticmethod
    def resolve_requested_by(obj) -> str | None:
        return _username(obj.requested_by)

    @staticmethod
    def resolve_url(obj) -> str:
        return reverse("api:deployment", args=[obj.pk])

    @staticmethod
    def resolve_steps(obj) -> list:
        return getattr(obj, "steps", [])


class ApprovalOut(Schema):
    id: int
    environment: str = Field(alias="environment.slug")
    tag: str
    state: str
    reason: str
    requested_by: str | None
    requested_at: datetime
    approved_by: str | None
    expires_at: datetime
    declined_by: str | None
    decline_reason: str
    url: str

    @staticmethod
    def resolve_url(obj) -> str:
        return reverse("api:approvals", args=[obj.environment.team.slug, obj.environment.slug])

    @staticmethod
    def resolve_requested_by(obj) -> str | None:
        return _username(obj.requested_by)

    @staticmethod
    def resolve_approved_by(obj) -> str | None:
        return _username(obj.approved_by)

    @staticmethod
    def resolve_declined_by(obj) -> str | None:
        return _username(obj.declined_by)


class FluxActionOut(Schema):
    id: int
    kind: str
    namespace: str
    name: str
    action: str
    status: str
    message: str
    requested_at: datetime
    finished_at: datetime | None
    url: str

    @staticmethod
    def resolve_url(obj) -> str:
        return reverse("api:flux_action", args=[obj.pk])


class ScorecardOut(Schema):
    team: str
    score: int | None
    findings: list[dict]


class ProgressOut(Schema):
    phase: str
    title: str
    done: int
    total: int
    complete: bool


class DeployIn(Schema):
    kind: str = "deploy"  # deploy, promote, rollback
    tag: str = ""
    # The caller's word that a tag no registry scan lists exists (a build this pipeline just
    # pushed), as the page's checkbox asks of a person; never enough where tag changes are gated.
    confirm_unverified: bool = False


class ApprovalIn(Schema):
    tag: str
    reason: str = ""


class DeclineIn(Schema):
    reason: str = ""


class FluxActionIn(Schema):
    cluster: str
    kind: str
    namespace: str
    name: str
    action: str  # reconcile, suspend, resume
    reason: str = ""

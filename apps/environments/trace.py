""" "Why isn't my change live?": follow one change from git to ready pods, from synced data only.

commit in the GitOps repository -> the GitRepository's fetched revision -> the
Kustomization's last applied revision -> the Deployment's observed generation and
rollout -> the pods running the tag and ready. The first step not reached is the
answer: Flux's or Kubernetes's reason, how long it has waited, the lesson that
explains it, and what this person may do about it. Like every page it reads the
database, never the Kubernetes API; data older than three sync intervals is "unknown".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince

from apps.clusters.flux_actions import flux_action_allowed, flux_object_team
from apps.clusters.models import FluxObject, Pod, Workload
from apps.clusters.objects import image_parse
from apps.core import inputs
from apps.environments import gates
from apps.environments.gitops import TAG_PATTERN
from apps.environments.models import Deployment, Environment
from apps.environments.selectors import revision_has
from apps.lessons.selectors import LessonLink, lesson_for_reasons

COMMIT_PATTERN = re.compile(r"[0-9a-f]{7,40}")
# The rule for "unknown": the cluster's last good sync is older than this many intervals.
STALE_INTERVALS = 3

DONE, STUCK, WAITING, UNKNOWN, LATER = "done", "stuck", "waiting", "unknown", "not reached"


@dataclass
class TraceAction:
    """Something the person could do at a step: a Flux action, a rollback, or a page to go to."""

    kind: str  # reconcile, resume, rollback, deploy
    label: str
    allowed: bool
    why_not: str = ""
    obj: FluxObject | None = None  # for reconcile and resume
    tag: str = ""  # for rollback


@dataclass
class TraceStep:
    key: str  # commit, source, apply, rollout, pods
    title: str
    state: str = LATER
    detail: str = ""
    reason: str = ""  # Flux's or Kubernetes's own word for it
    message: str = ""
    since: datetime | None = None  # waiting since
    lesson: LessonLink | None = None  # at the section that explains the reason
    actions: list[TraceAction] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return self.state == DONE


@dataclass
class Trace:
    environment: Environment
    tag: str
    sha: str
    deployment: Deployment | None
    steps: list[TraceStep]
    stale: bool
    age_seconds: int | None

    @property
    def first_open(self) -> TraceStep | None:
        """The first step not reached: the answer to "why isn't it live?"."""
        return next((s for s in self.steps if not s.reached), None)

    @property
    def live(self) -> bool:
        return self.first_open is None


class TraceInputError(ValueError):
    """A tag or commit that cannot be one: the page says why (a 400)."""


def trace_target(*, tag: str = "", commit: str = "") -> tuple[str, str]:
    """Check what the person named; both empty means "what git says now"."""
    try:
        if commit:
            commit = inputs.matching(
                commit.strip().lower(), field="commit", pattern=COMMIT_PATTERN, max_length=40,
                hint="7 to 40 hexadecimal digits of a commit in the GitOps repository.",
            )  # fmt: skip
        if tag:
            tag = inputs.matching(
                tag.strip(), field="tag", pattern=TAG_PATTERN, max_length=128,
                hint="up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'.",
            )  # fmt: skip
    except inputs.InvalidInput as exc:
        raise TraceInputError(exc.message) from None
    return tag, commit


def _since(value: str) -> datetime | None:
    try:
        return parse_datetime(value) if value else None
    except ValueError:
        return None


def _lesson(lessons: dict[str, LessonLink], *reasons: str) -> LessonLink | None:
    return next((lessons[r] for r in reasons if r and r in lessons), None)


def _flux_actions(user, obj: FluxObject) -> list[TraceAction]:
    """Resume a suspended object, otherwise reconcile it, if this person may."""
    kind = "resume" if obj.suspended else "reconcile"
    allowed = flux_action_allowed(user=user, obj=obj, action=kind)
    why = ""
    if not allowed:
        owner = flux_object_team(obj)
        why = (
            f"Only members of {owner.name} (in production: its leads) and SREs may."
            if owner
            else "It is not one team's object (several teams' deploys may use it): ask an SRE."
        )
    label = f"{'Resume' if obj.suspended else 'Reconcile'} {obj.kind} {obj.namespace}/{obj.name}"
    return [TraceAction(kind, label, allowed, why, obj=obj)]


def _rollback_action(user, environment: Environment) -> list[TraceAction]:
    tag = gates.rollback_tag(environment)
    if not tag:
        return []
    verdict = gates.environment_verdict(user=user, environment=environment, action="rollback", tag=tag)
    return [TraceAction("rollback", f"Roll back to {tag}", verdict.allowed, verdict.reason, tag=tag)]


def _resolve(environment: Environment, tag: str, commit: str) -> tuple[str, str, Deployment | None]:
    """(tag, sha, the deployment that made it) for what was named; sha is "" when git never had it."""
    deployments = Deployment.objects.filter(environment=environment).select_related("requested_by")
    if commit:
        deployment = deployments.filter(sha__startswith=commit).first()
        if deployment:
            return deployment.tag, deployment.sha, deployment
        if environment.git_sha.startswith(commit):
            return environment.git_tag, environment.git_sha, None
        return tag, commit, None
    if not tag or tag == environment.git_tag:
        tag = tag or environment.git_tag
        deployment = deployments.filter(tag=tag).exclude(sha="").first()
        return tag, environment.git_sha, deployment
    deployment = deployments.filter(tag=tag).first()
    return tag, (deployment.sha if deployment else ""), deployment


def _commit_step(environment: Environment, tag: str, sha: str, deployment: Deployment | None) -> TraceStep:
    step = TraceStep("commit", f"A commit in the GitOps repository sets {tag or 'the tag'}")
    branch = environment.branch
    if sha and environment.git_sha.startswith(sha) or (sha and tag and tag == environment.git_tag):
        step.state = DONE
        step.detail = f"{branch} sets {environment.git_tag} (commit {environment.git_sha[:7]})."
        if environment.git_checked_at:
            step.detail += f" Git read {timesince(environment.git_checked_at)} ago."
        return step
    if deployment and not deployment.sha:
        if deployment.status == Deployment.Status.FAILED:
            step.state, step.reason = STUCK, f"failed at {deployment.failed_step or 'a step'}"
            step.detail = f"The {deployment.get_kind_display().lower()} failed before it committed anything."
            step.message = deployment.message
            step.since = deployment.finished_at
        else:
            step.state, step.since = WAITING, deployment.requested_at
            step.detail = (
                f"The {deployment.get_kind_display().lower()} is {deployment.get_status_display().lower()}."
            )
        return step
    if sha:
        step.state = STUCK
        step.reason = "replaced"
        now_sets = environment.git_tag or "nothing Shirube could read"
        step.detail = (
            f"Commit {sha[:7]} is no longer what {branch} says: it now sets "
            f"{now_sets} (commit {environment.git_sha[:7] or '?'})."
        )
        return step
    step.state = STUCK
    if not tag:
        step.reason = "git not read"
        step.detail = "Shirube has not read this environment's tag from git yet (a task reads it)."
        step.message = environment.git_error
        return step
    step.reason = "not committed"
    step.detail = (
        f"No commit in the GitOps repository sets {tag} here: nobody has deployed it to {environment.slug}."
    )
    if environment.git_error:
        step.message = f"Git could not be read: {environment.git_error}"
    return step


def _source_step(kustomization, source, sha, lessons, user, since) -> TraceStep:
    step = TraceStep("source", "Flux fetched the commit (GitRepository)")
    if kustomization is None or source is None:
        step.state = UNKNOWN
        step.detail = "The Kustomization or its source is not in the last sync."
        return step
    step.title = f"Flux fetched the commit ({source.kind} {source.namespace}/{source.name})"
    fetched = (
        revision_has(source.artifact_revision, sha)
        or revision_has(kustomization.last_applied_revision, sha)
        or revision_has(kustomization.last_attempted_revision, sha)
    )
    if fetched:
        step.state, step.detail = (
            DONE,
            f"Fetched {source.artifact_revision or kustomization.last_attempted_revision}.",
        )
        return step
    step.actions = _flux_actions(user, source)
    if source.suspended:
        step.state, step.reason = STUCK, "Suspended"
        step.detail = "The source is suspended: Flux fetches nothing until someone resumes it."
        step.message = source.annotations.get("shirube.io/suspend-reason", "")
    elif source.ready_status == "False":
        step.state, step.reason, step.message = STUCK, source.ready_reason, source.ready_message
        step.detail = "Flux could not fetch the repository."
        step.since = _since(source.details.get("readySince", ""))
        step.lesson = _lesson(lessons, source.ready_reason, "GitOperationFailed", "ArtifactFailed")
    else:
        step.state, step.since = WAITING, since
        step.detail = (
            f"Not fetched yet: the source has {source.artifact_revision or 'no artifact'}. "
            f"It fetches every {source.interval or '?'}; reconciling asks now."
        )
    return step


def _apply_step(kustomization, sha, lessons, user, since) -> TraceStep:
    step = TraceStep("apply", "Flux applied it (Kustomization)")
    if kustomization is None:
        step.state, step.detail = UNKNOWN, "The Kustomization is not in the last sync."
        return step
    step.title = f"Flux applied it (Kustomization {kustomization.namespace}/{kustomization.name})"
    if revision_has(kustomization.last_applied_revision, sha):
        step.state, step.detail = DONE, f"Applied {kustomization.last_applied_revision}."
        return step
    step.actions = _flux_actions(user, kustomization)
    if kustomization.suspended:
        step.state, step.reason = STUCK, "Suspended"
        step.detail = "The Kustomization is suspended: Flux applies nothing until someone resumes it."
        step.message = kustomization.annotations.get("shirube.io/suspend-reason", "")
    elif kustomization.ready_status == "False":
        step.state, step.reason = STUCK, kustomization.ready_reason
        step.message = kustomization.ready_message
        step.detail = f"Flux tried {kustomization.last_attempted_revision or 'the commit'} and failed."
        step.since = _since(kustomization.details.get("readySince", ""))
        step.lesson = _lesson(lessons, kustomization.ready_reason, "ReconciliationFailed")
    else:
        step.state, step.since = WAITING, since
        step.detail = (
            f"Not applied yet: Flux last applied {kustomization.last_applied_revision or 'nothing'}."
        )
    return step


def _image_tag(images: list[str], image: str) -> str | None:
    return next((ref.tag for ref in map(image_parse, images) if ref.repository == image), None)


def _rollout_step(workloads, tag, environment, since) -> TraceStep:
    step = TraceStep("rollout", f"The Deployment rolls out {tag}")
    if not workloads:
        step.state = STUCK
        step.reason = "no Deployment"
        step.detail = f"No Deployment in {environment.namespace} runs {environment.image} in the last sync."
        return step
    for workload in workloads:
        template_tag = _image_tag([c.get("image", "") for c in workload.template.get("containers", [])],
                                  environment.image)  # fmt: skip
        progressing = next(
            (c for c in workload.details.get("conditions", []) if c.get("type") == "Progressing"), {}
        )
        name = f"Deployment {workload.namespace}/{workload.name}"
        if template_tag != tag:
            step.state, step.since = WAITING, since
            step.detail = f"{name} still names {template_tag}: Flux's change has not reached it yet."
            return step
        if workload.generation and (workload.observed_generation or 0) < workload.generation:
            step.state, step.since = WAITING, since
            step.detail = (
                f"{name} has generation {workload.generation}; its controller has observed only "
                f"{workload.observed_generation or 0}."
            )
            return step
        if progressing.get("status") == "False":
            step.state, step.reason = STUCK, progressing.get("reason", "")
            step.message = progressing.get("message", "")
            step.detail = (
                f"{name} stopped progressing: {workload.updated or 0} of {workload.desired} pods updated."
            )
            return step
    step.state = DONE
    step.detail = ", ".join(
        f"{w.name}: {w.updated or 0} of {w.desired} updated, {w.ready or 0} ready" for w in workloads
    )
    return step


def _pods_step(pods, tag, environment, lessons, since) -> TraceStep:
    step = TraceStep("pods", f"Pods run {tag} and are ready")
    mine = [(p, _image_tag(p.images, environment.image)) for p in pods]
    mine = [(p, t) for p, t in mine if t is not None]
    on_tag = [p for p, t in mine if t == tag]
    ready = [p for p in on_tag if p.phase == "Running" and p.ready_containers == p.total_containers]
    others = sorted({t for _, t in mine if t != tag})
    if on_tag and len(ready) == len(mine):
        step.state, step.detail = DONE, f"{len(ready)} of {len(ready)} pods run {tag} and are ready."
        return step
    failing = [p for p in on_tag if p.reason and p not in ready]
    step.detail = f"{len(ready)} of {len(on_tag)} pods on {tag} ready" + (
        f"; still running {', '.join(others)}." if others else "."
    )
    if failing:
        pod = failing[0]
        step.state, step.reason, step.message = STUCK, pod.reason, pod.message
        step.detail += f" {pod.name}: {pod.reason}."
        step.since = pod.created
        step.lesson = _lesson(lessons, pod.reason, pod.last_termination_reason, pod.problem)
    else:
        step.state, step.since = WAITING, since
    return step


def environment_trace(
    *, environment: Environment, user: AbstractBaseUser, tag: str = "", commit: str = ""
) -> Trace:
    """Follow the change step by step; every step after the first not reached is "not reached"."""
    tag, sha, deployment = _resolve(environment, tag, commit)
    cluster = environment.cluster
    now = timezone.now()
    age = int((now - cluster.last_success_at).total_seconds()) if cluster.last_success_at else None
    stale = age is None or age > STALE_INTERVALS * settings.SHIRUBE_SYNC_INTERVAL
    lessons = lesson_for_reasons()
    kustomization = FluxObject.objects.filter(
        cluster_id=cluster.pk, kind="Kustomization",
        namespace=environment.kustomization_namespace, name=environment.kustomization_name,
    ).select_related("cluster").first()  # fmt: skip
    source = None
    if kustomization and kustomization.source_ref:
        ref = kustomization.source_ref
        source = FluxObject.objects.filter(
            cluster_id=cluster.pk, kind=ref.get("kind", "GitRepository"),
            namespace=ref.get("namespace") or kustomization.namespace, name=ref.get("name", ""),
        ).select_related("cluster").first()  # fmt: skip
    workloads = [
        w
        for w in Workload.objects.filter(
            cluster_id=cluster.pk, namespace=environment.namespace, kind="Deployment"
        )
        if _image_tag([c.get("image", "") for c in w.template.get("containers", [])], environment.image)
        is not None
    ]
    pods = list(Pod.objects.filter(cluster_id=cluster.pk, namespace=environment.namespace))
    committed_at = deployment.requested_at if deployment else None
    applied_at = (deployment.applied_at if deployment else None) or (
        _since(kustomization.details.get("readySince", "")) if kustomization else None
    )
    steps = [_commit_step(environment, tag, sha, deployment)]
    if steps[0].reached:
        sha = environment.git_sha
        steps += [
            _source_step(kustomization, source, sha, lessons, user, committed_at),
            _apply_step(kustomization, sha, lessons, user, committed_at),
            _rollout_step(workloads, tag, environment, applied_at),
            _pods_step(pods, tag, environment, lessons, applied_at),
        ]
    opened = False
    for step in steps[1:]:
        if stale:
            # Old data must not be taken for a failure (or a success): say what it said, as unknown.
            step.state, step.actions = UNKNOWN, []
            step.detail = f"Last known: {step.detail}"
        elif opened:
            step.state, step.detail, step.reason, step.message = LATER, "", "", ""
            step.actions, step.lesson, step.since = [], None, None
        opened = opened or not step.reached
    open_step = next((s for s in steps if not s.reached), None)
    if open_step is not None and open_step.key in ("rollout", "pods") and not stale:
        open_step.actions += _rollback_action(user, environment)
    return Trace(environment, tag, sha, deployment, steps, stale, age)

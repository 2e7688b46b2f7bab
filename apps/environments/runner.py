"""A deployment's state machine, one step per call; the task calls it again after the delay it returns.

queued -> committing -> committed (sha) -> reconciling -> healthy | failed
(pin and follow are git-only: committed -> done). Each step has a deadline;
a step past it fails the deployment, naming the step and why. Deploys to one
environment are serialised: a queued deployment waits while another one of
the same environment is committing, committed or reconciling, and the oldest
queued one goes first.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.services import audit_record
from apps.clusters import kube
from apps.clusters.flux_runner import flux_reconcile_request
from apps.clusters.models import FluxObject
from apps.clusters.objects import condition, image_parse, is_ready
from apps.core.stepping import past, step_taken, steps_stalled
from apps.environments import gates, gitops, notify
from apps.environments.models import Deployment, Environment
from apps.environments.selectors import revision_has

log = logging.getLogger(__name__)
Status = Deployment.Status


def repo_spec(environment: Environment) -> gitops.RepoSpec:
    """The repository with the credentials the settings name (paths only)."""
    return gitops.RepoSpec(
        url=environment.repo_url,
        branch=environment.branch,
        workdir=gitops.workdir_for(settings.SHIRUBE_GITOPS_WORKDIR, environment.repo_url, environment.branch),
        ssh_key_file=settings.SHIRUBE_GIT_SSH_KEY_FILE or None,
        known_hosts_file=settings.SHIRUBE_GIT_KNOWN_HOSTS_FILE or None,
        token_file=settings.SHIRUBE_GIT_TOKEN_FILE or None,
        token_username=settings.SHIRUBE_GIT_TOKEN_USERNAME,
        allow_local=settings.SHIRUBE_GIT_ALLOW_LOCAL,
    )


def environment_refresh(*, environment: Environment) -> Environment:
    """Read the tag, digest and setter marker from git into the environment row."""
    try:
        entry = gitops.image_read(
            repo_spec(environment), path=environment.kustomization_path, image=environment.image
        )
    except gitops.GitOpsError as exc:
        environment.git_error = str(exc)[:2000]
        environment.git_checked_at = timezone.now()
        environment.save(update_fields=["git_error", "git_checked_at"])
        return environment
    environment.git_sha = entry.sha
    environment.git_tag = entry.new_tag or ""
    environment.git_digest = entry.digest or ""
    environment.git_marker = entry.policy or ""
    environment.git_error = ""
    environment.git_checked_at = timezone.now()
    environment.save(
        update_fields=["git_sha", "git_tag", "git_digest", "git_marker", "git_error", "git_checked_at"]
    )
    return environment


# The steps that are progress, told in a deployment's Slack thread (the outcome is told by _finish).
_PROGRESS = ("committed", "reconciling", "applied", "recovering")


def _audit(deployment: Deployment, outcome: str, message: str = "", **parameters) -> None:
    audit_record(
        actor=deployment.requested_by, team=deployment.environment.team,
        action=f"environment.{deployment.kind}", outcome=outcome, target=deployment.target,
        parameters={"tag": deployment.tag, **parameters}, message=message,
        correlation=f"deployment-{deployment.pk}", channel=deployment.channel,
    )  # fmt: skip
    if outcome in _PROGRESS:
        notify.deployment_progress(deployment, message)


def _move(deployment: Deployment, status: str, message: str, **fields) -> None:
    deployment.status, deployment.message = status, message[:2000]
    deployment.step_started_at = timezone.now()
    for name, value in fields.items():
        setattr(deployment, name, value)
    deployment.save(update_fields=["status", "message", "step_started_at", *fields])


def _finish(
    deployment: Deployment, status: str, message: str, *, step: str = "", timed_out: bool = False
) -> None:
    deployment.status, deployment.message, deployment.failed_step = status, message[:2000], step
    deployment.finished_at = timezone.now()
    outcome = {Status.HEALTHY: "succeeded", Status.DONE: "succeeded"}.get(status, "failed")
    with transaction.atomic():  # the outcome, its audit event and its notification, together
        deployment.save(update_fields=["status", "message", "failed_step", "finished_at"])
        _audit(deployment, outcome, message, **({"step": step} if step else {}))
        notify.deployment_finished(deployment, timed_out=timed_out)
    cluster_id = deployment.environment.cluster_id

    def queue_sync() -> None:
        from apps.clusters.tasks import cluster_sync

        cluster_sync.delay(cluster_id)

    transaction.on_commit(queue_sync)


def _timed_out(deployment: Deployment, seconds: int, since=None) -> bool:
    return past(since or deployment.step_started_at, seconds)


def deployment_advance(*, deployment_id: int) -> float | None:
    """Take one step; returns the seconds until the next step, or None when there is nothing more to do."""
    deployment = (
        Deployment.objects.select_related("environment__cluster", "environment__team", "requested_by")
        .filter(pk=deployment_id)
        .first()
    )
    if deployment is None or deployment.done:
        return None
    poll = float(settings.SHIRUBE_DEPLOY_POLL_SECONDS)
    step_taken(Deployment.objects.filter(pk=deployment.pk))
    step = {
        Status.QUEUED: _step_queued,
        Status.COMMITTING: _step_committing,
        Status.COMMITTED: _step_committed,
        Status.RECONCILING: _step_reconciling,
    }[deployment.status]
    return step(deployment, poll)


def _step_queued(deployment: Deployment, poll: float) -> float | None:
    if _timed_out(deployment, settings.SHIRUBE_DEPLOY_QUEUE_TIMEOUT, since=deployment.requested_at):
        _finish(deployment, Status.FAILED, f"Waited {settings.SHIRUBE_DEPLOY_QUEUE_TIMEOUT} s for earlier "
                "changes to this environment to finish.", step="queued", timed_out=True)  # fmt: skip
        return None
    with transaction.atomic():
        Environment.objects.select_for_update().get(pk=deployment.environment_id)
        others = Deployment.objects.filter(environment_id=deployment.environment_id).exclude(pk=deployment.pk)
        busy = others.filter(status__in=Deployment.ACTIVE).first()
        earlier = others.filter(status=Status.QUEUED, requested_at__lt=deployment.requested_at).exists()
        claimed = 0
        if busy is None and not earlier:
            # The worker token and its heartbeat let another worker tell a dead holder from a slow one.
            claimed = Deployment.objects.filter(pk=deployment.pk, status=Status.QUEUED).update(
                status=Status.COMMITTING, step_started_at=timezone.now(), message="Committing to git.",
                worker=uuid.uuid4().hex, heartbeat_at=timezone.now(),
            )  # fmt: skip
    if busy is not None or earlier:
        waiting = f"deployment #{busy.pk} ({busy.tag})" if busy else "an earlier request"
        if deployment.message != f"Waiting for {waiting} to finish.":
            deployment.message = f"Waiting for {waiting} to finish."
            deployment.save(update_fields=["message"])
        return poll
    if not claimed:
        return None  # another worker took it
    deployment.refresh_from_db()
    if refusal := _refusal_at_commit(deployment):
        _finish(deployment, Status.FAILED, refusal, step="gates")
        return None
    return _commit(deployment)


def _refusal_at_commit(deployment: Deployment) -> str | None:
    """The gates that can have changed since the request, checked again before git is touched.

    A deployment may have waited in the queue (or been queued before a gate existed).
    """
    env = deployment.environment
    if deployment.kind == Deployment.Kind.FOLLOW:
        gate = gates.applicable_gate(env, deployment.kind, deployment.tag)
        if not gate.ok:
            return gate.message
    if deployment.approval_id:
        approval = deployment.approval
        approval.environment = env
        return gates.approver_lapsed(approval)
    return None


def _commit_message(deployment: Deployment) -> str:
    env, user = deployment.environment, deployment.requested_by
    who = user.get_username() if user else "shirube"
    verb = {
        Deployment.Kind.DEPLOY: f"Deploy {env.app} {deployment.tag} to {env.stage}",
        Deployment.Kind.PROMOTE: f"Promote {env.app} {deployment.tag} to {env.stage}",
        Deployment.Kind.ROLLBACK: f"Roll back {env.app} in {env.stage} to {deployment.tag}",
        Deployment.Kind.PIN: f"Pin {env.app} in {env.stage} at {deployment.tag}",
        Deployment.Kind.FOLLOW: f"{env.app} in {env.stage} follows image automation again",
    }[deployment.kind]
    lines = [
        verb,
        "",
        f"Requested by {who} through Shirube (deployment #{deployment.pk}, {env.team.slug}/{env.slug}).",
    ]
    if deployment.approval_id and deployment.approval.approved_by:
        lines.append(f"Approved-by: {deployment.approval.approved_by.get_username()}")
    return "\n".join(lines)


def _author(deployment: Deployment) -> tuple[str, str]:
    user = deployment.requested_by
    if user is None:
        return "Shirube", "shirube@localhost"
    name = user.get_full_name() or user.get_username()
    return name, user.email or f"{user.get_username()}@users.shirube.invalid"


class _TakenOver(Exception):
    """Another worker took the commit step over (this one went quiet for too long): stop, touch nothing."""


def _owner(deployment: Deployment) -> tuple[QuerySet, gitops.Heartbeat]:
    """The deployment while this worker still holds its commit step, and the heartbeat that says so."""
    owned = Deployment.objects.filter(pk=deployment.pk, status=Status.COMMITTING, worker=deployment.worker)
    last = [0.0]

    def heartbeat() -> None:
        if time.monotonic() - last[0] < gitops.HEARTBEAT_SECONDS / 2:
            return
        if not owned.update(heartbeat_at=timezone.now()):
            raise _TakenOver
        last[0] = time.monotonic()

    return owned, heartbeat


def _commit(deployment: Deployment) -> float | None:
    """Edit, commit and push, recording the commit before each push so a takeover can find it."""
    env = deployment.environment
    name, email = _author(deployment)
    repo = repo_spec(env)
    owned, heartbeat = _owner(deployment)
    timeouts = {"timeout": settings.SHIRUBE_GIT_TIMEOUT, "heartbeat": heartbeat}
    try:
        before = gitops.image_read(repo, path=env.kustomization_path, image=env.image, **timeouts)
        previous_tag = before.new_tag or ""
        if previous_tag == deployment.tag and deployment.pushing_sha and deployment.previous_tag:
            # A dead worker's push landed after we found it had not: keep the tag it replaced.
            previous_tag = deployment.previous_tag

        def before_push(sha: str, edit: gitops.Edit) -> None:
            recorded = owned.update(
                pushing_sha=sha, previous_tag=previous_tag, pinned=bool(edit.unpinned_policy),
                heartbeat_at=timezone.now(),
            )  # fmt: skip
            if not recorded:
                raise _TakenOver

        if deployment.kind == Deployment.Kind.FOLLOW:
            result = gitops.image_follow_automation(
                repo, path=env.kustomization_path, image=env.image, policy=env.image_policy,
                author_name=name, author_email=email, message=_commit_message(deployment),
                attempts=settings.SHIRUBE_GIT_PUSH_ATTEMPTS, before_push=before_push, **timeouts,
            )  # fmt: skip
        else:
            result = gitops.image_set_tag(
                repo, path=env.kustomization_path, image=env.image, tag=deployment.tag,
                author_name=name, author_email=email, message=_commit_message(deployment),
                attempts=settings.SHIRUBE_GIT_PUSH_ATTEMPTS, before_push=before_push, **timeouts,
                # A pin only takes the marker off: if git moved since the page was read, writing
                # the tag the page showed would change what runs, past every gate.
                expect_tag=deployment.tag if deployment.kind == Deployment.Kind.PIN else None,
            )  # fmt: skip
    except _TakenOver:
        log.warning("deployment %s: another worker took the commit over; stopping", deployment.pk)
        return None
    except gitops.GitOpsError as exc:
        if owned.exists():
            _finish(deployment, Status.FAILED, str(exc), step=exc.step)
        return None
    return _committed(
        deployment, owned, sha=result.sha, changed=result.changed, previous_tag=previous_tag,
        unpinned_policy=result.unpinned_policy,
    )  # fmt: skip


def _committed(
    deployment: Deployment, owned: QuerySet, *, sha: str, changed: bool, previous_tag: str,
    unpinned_policy: str | None, landed_late: bool = False,
) -> float | None:  # fmt: skip
    """Record the commit (only while this worker holds the step) and what git now says."""
    env = deployment.environment
    if not changed:
        note = f"Git already had {deployment.tag}; nothing to commit."
    elif landed_late:
        note = f"Committed {sha[:7]}: the push landed although its worker stopped."
    else:
        note = f"Committed {sha[:7]}."
    if unpinned_policy:
        note += f" The image policy marker ({unpinned_policy}) was taken off: the environment is pinned."
    fields = {"sha": sha, "previous_tag": previous_tag, "pinned": bool(unpinned_policy)}
    if not owned.update(status=Status.COMMITTED, message=note, step_started_at=timezone.now(), **fields):
        return None  # taken over after the push: the new holder finds this commit on the remote
    deployment.status, deployment.message = Status.COMMITTED, note
    for name, value in fields.items():
        setattr(deployment, name, value)
    _audit(deployment, "committed", note, sha=sha)
    fields = {"git_sha": sha, "git_tag": deployment.tag, "git_checked_at": timezone.now(), "git_error": ""}
    if deployment.kind == Deployment.Kind.FOLLOW:
        fields.update(git_marker=env.image_policy, pinned_by=None, pinned_at=None)
    elif unpinned_policy or (deployment.kind == Deployment.Kind.PIN):
        fields.update(git_marker="", pinned_by=deployment.requested_by, pinned_at=timezone.now())
    Environment.objects.filter(pk=env.pk).update(git_digest="", **fields)
    # The other environments of this repository and branch now live at this commit too.
    siblings = Environment.objects.filter(repo_url=env.repo_url, branch=env.branch).exclude(pk=env.pk)
    siblings.update(git_sha=sha)
    if deployment.kind in (Deployment.Kind.PIN, Deployment.Kind.FOLLOW):
        _finish(deployment, Status.DONE, note)
        return None
    return 0.0


def _step_committing(deployment: Deployment, poll: float) -> float | None:
    """Another worker holds the commit step. If it has gone quiet, take over without committing twice.

    The holder beats while git runs; past SHIRUBE_DEPLOY_COMMIT_TIMEOUT without a beat it is
    dead (killed, or its host gone). The commit it handed to `git push` may have landed, or may
    land later (its push can outlive it), so the remote is asked first; only a commit that is
    not there is made again, and the edit then finds any late arrival already in place.
    """
    last_sign = deployment.heartbeat_at or deployment.step_started_at
    if not _timed_out(deployment, settings.SHIRUBE_DEPLOY_COMMIT_TIMEOUT, since=last_sign):
        return None  # alive: it carries its own chain on
    token = uuid.uuid4().hex
    quiet = int((timezone.now() - last_sign).total_seconds())
    took = Deployment.objects.filter(
        pk=deployment.pk, status=Status.COMMITTING, worker=deployment.worker
    ).update(worker=token, heartbeat_at=timezone.now(), message="Taking over from a worker that stopped.")
    if not took:
        return None  # another worker took over first
    deployment.worker = token
    sha = deployment.pushing_sha
    what = f"checking whether its commit {sha[:7]} landed." if sha else "it had pushed nothing."
    _audit(deployment, "recovering", f"The worker committing this stopped answering {quiet} s ago; {what}")
    owned, heartbeat = _owner(deployment)
    if sha:
        repo = repo_spec(deployment.environment)
        try:
            landed = gitops.commit_landed(
                repo, sha=sha, timeout=settings.SHIRUBE_GIT_TIMEOUT, heartbeat=heartbeat
            )
        except _TakenOver:
            return None
        except gitops.GitOpsError as exc:
            _finish(deployment, Status.FAILED, f"The worker stopped while pushing {sha[:7]}, and the "
                    f"repository could not be read to see whether it landed: {exc} Check the repository's "
                    "history before trying again.", step="commit")  # fmt: skip
            return None
        if landed:
            policy = deployment.environment.image_policy if deployment.pinned else None
            return _committed(deployment, owned, sha=sha, changed=True, previous_tag=deployment.previous_tag,
                              unpinned_policy=policy or None, landed_late=True)  # fmt: skip
    return _commit(deployment)


def _flux_path(api, environment: Environment) -> str:
    """The Kustomization's URL path, at the version the sync found (or discovered now)."""
    ns, name = environment.kustomization_namespace, environment.kustomization_name
    row = FluxObject.objects.filter(cluster_id=environment.cluster_id, kind="Kustomization", namespace=ns,
                                    name=name).first()  # fmt: skip
    if row is not None:
        return kube.object_path(row.api_version, "Kustomization", ns, name)
    for spec in kube.discover_flux(api):
        if spec.kind == "Kustomization":
            return kube.object_path(f"{spec.group}/{spec.version}", "Kustomization", ns, name)
    raise kube.KubeError("the cluster serves no Flux Kustomization kind")


def _step_committed(deployment: Deployment, poll: float) -> float | None:
    env = deployment.environment
    token = timezone.now().isoformat(timespec="microseconds")
    try:
        api = kube.api_client(env.cluster)
        flux_reconcile_request(
            api, cluster=env.cluster, path=_flux_path(api, env), namespace=env.kustomization_namespace,
            token=token,
        )  # fmt: skip
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        if _timed_out(deployment, settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT):
            _finish(deployment, Status.FAILED, f"Could not ask Flux to reconcile: {exc}", step="reconcile",
                    timed_out=True)  # fmt: skip
            return None
        deployment.message = f"Could not ask Flux to reconcile yet ({exc}); retrying."
        deployment.save(update_fields=["message"])
        return poll
    _move(
        deployment, Status.RECONCILING, f"Asked Flux to reconcile {env.kustomization}.", reconcile_token=token
    )
    _audit(deployment, "reconciling", f"reconcile requested for {env.kustomization}", sha=deployment.sha)
    return poll


def _step_reconciling(deployment: Deployment, poll: float) -> float | None:
    env = deployment.environment
    try:
        api = kube.api_client(env.cluster)
        kustomization = kube.get_object(api, _flux_path(api, env))
        status = kustomization.get("status") or {}
        if deployment.applied_at is None:
            return _wait_for_flux(deployment, kustomization, status, poll)
        pods = kube.list_objects(api, kube.kind_in("pods", env.namespace))
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        return _unreachable(deployment, exc, poll)
    return _wait_for_pods(deployment, pods, poll)


def _unreachable(deployment: Deployment, exc: Exception, poll: float) -> float | None:
    limit = (
        settings.SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT
        if deployment.applied_at
        else settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT
    )
    if _timed_out(deployment, limit, since=deployment.applied_at or deployment.step_started_at):
        step = "rollout" if deployment.applied_at else "reconcile"
        _finish(deployment, Status.FAILED, f"The cluster did not answer: {exc}", step=step, timed_out=True)
        return None
    deployment.message = f"The cluster did not answer ({exc}); retrying."
    deployment.save(update_fields=["message"])
    return poll


def _wait_for_flux(deployment: Deployment, kustomization: dict, status: dict, poll: float) -> float | None:
    env, sha = deployment.environment, deployment.sha
    if revision_has(status.get("lastAppliedRevision", ""), sha):
        deployment.applied_at = timezone.now()
        deployment.message = f"Flux applied {sha[:7]}; waiting for the pods to run {deployment.tag}."
        deployment.save(update_fields=["applied_at", "message"])
        _audit(deployment, "applied", deployment.message, sha=sha)
        return 0.0
    ready = condition(status.get("conditions"))
    if (kustomization.get("spec") or {}).get("suspend"):
        _finish(deployment, Status.FAILED, f"{env.kustomization} is suspended: Flux will not apply the "
                "commit until someone resumes it.", step="reconcile")  # fmt: skip
        return None
    if revision_has(status.get("lastAttemptedRevision", ""), sha) and ready.get("status") == "False":
        _finish(deployment, Status.FAILED, f"Flux could not apply {sha[:7]}: {ready.get('reason', '')}: "
                f"{ready.get('message', '')}", step="reconcile")  # fmt: skip
        return None
    if _timed_out(deployment, settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT):
        at = status.get("lastAppliedRevision") or "nothing yet"
        _finish(deployment, Status.FAILED, f"Flux did not apply {sha[:7]} within "
                f"{settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT} s (the Kustomization is at {at}).",
                step="reconcile", timed_out=True)  # fmt: skip
        return None
    message = f"Waiting for Flux to apply {sha[:7]}."
    if deployment.message != message:
        deployment.message = message
        deployment.save(update_fields=["message"])
    return poll


def _pod_problem(pod: dict) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return waiting["reason"]
    return (pod.get("status") or {}).get("phase", "")


def _wait_for_pods(deployment: Deployment, pods: list[dict], poll: float) -> float | None:
    env, tag = deployment.environment, deployment.tag
    relevant, on_tag, ready, problems = 0, 0, 0, []
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            relevant += 1  # an old pod still terminating: the rollout is not over
            continue
        images = [image_parse(c.get("image", "")) for c in (pod.get("spec") or {}).get("containers") or []]
        tags = [image.tag for image in images if image.repository == env.image]
        if not tags:
            continue
        relevant += 1
        if tags[0] == tag:
            on_tag += 1
            if is_ready(pod):
                ready += 1
            elif problem := _pod_problem(pod):
                problems.append(f"{pod['metadata']['name']}: {problem}")
    if relevant and ready == relevant:
        _finish(
            deployment,
            Status.HEALTHY,
            f"All {ready} pods run {tag} and are ready."
            if ready > 1
            else f"The pod runs {tag} and is ready.",
        )
        return None
    summary = f"{on_tag} of {relevant} pods run {tag}, {ready} ready"
    if problems:
        summary += "; " + ", ".join(problems[:3])
    if _timed_out(deployment, settings.SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT, since=deployment.applied_at):
        _finish(deployment, Status.FAILED, f"The pods did not all run {tag} and become ready within "
                f"{settings.SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT} s: {summary}.", step="rollout",
                timed_out=True)  # fmt: skip
        return None
    if deployment.message != summary + ".":
        deployment.message = summary + "."
        deployment.save(update_fields=["message"])
    return poll


def deployments_stalled() -> list[int]:
    """Unfinished deployments whose task chain was lost (see apps.core.stepping)."""
    unfinished = Deployment.objects.exclude(status__in=Deployment.FINISHED)
    stalled = steps_stalled(unfinished, poll_seconds=settings.SHIRUBE_DEPLOY_POLL_SECONDS)
    # A commit step whose worker stopped beating: the next step takes it over (see _step_committing).
    quiet = timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_COMMIT_TIMEOUT)
    stalled |= unfinished.filter(status=Status.COMMITTING, heartbeat_at__lt=quiet)
    return list(stalled.values_list("pk", flat=True))

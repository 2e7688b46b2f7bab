"""Requests to change an environment, and approvals. The work itself runs in runner.py.

page -> deployment_request (gates, idempotency, audit "requested", queue the
runner on commit) -> runner.deployment_advance, one step per task run.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import inputs
from apps.core.inputs import shown
from apps.environments import gates
from apps.environments.gitops import tag_valid
from apps.environments.models import Approval, Deployment, Environment
from apps.environments.selectors import newest_tags, source_healthy_tag


class RequestRefused(Exception):
    """The request breaks a gate; the message says which and what unlocks it."""

    def __init__(self, message: str, verdict: gates.Verdict | None = None):
        super().__init__(message)
        self.verdict = verdict


class BadInput(RequestRefused):
    """The request itself is malformed (an invalid tag): a 400, not a 403."""


# The form's request key: a uuid4 in hex (views.py), or any client's own key of this shape.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REASON_MAX_LENGTH = 500


def _refuse(*, user, environment: Environment, action: str, tag: str, message: str, bad_input=False,
            verdict=None):  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action=f"environment.{action}",
        outcome="failed" if bad_input else "refused", target=environment.audit_target,
        parameters={"tag": tag} if tag else {}, message=message,
    )  # fmt: skip
    raise (BadInput if bad_input else RequestRefused)(message, verdict)


def tag_check(environment: Environment, tag: str) -> str | None:
    """Why this tag cannot be deployed here, or None: the OCI grammar, then the registry scan."""
    if not tag:
        return "Give the image tag to deploy."
    if not tag_valid(tag):
        return (
            f"“{shown(tag, 60)}” is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'."
        )
    newest = newest_tags(environment)
    if newest.complete and tag not in newest.seen and tag != newest.policy_tag:
        return (
            f"The registry scan of {environment.image} has not seen the tag {tag}"
            f" (it found: {', '.join(newest.seen[:5]) or 'none'})."
        )
    return None


def deployment_request(
    *, user: AbstractBaseUser, environment: Environment, kind: str, tag: str = "", idempotency_key: str
) -> Deployment:
    """Check the gates and queue the change; a repeated idempotency key returns the first request.

    The input is checked before anything is written, and every refusal is audited, whatever
    the input: an unknown kind is recorded as `environment.request`, never under its own name.
    """
    if kind not in Deployment.Kind.values:
        _refuse(user=user, environment=environment, action="request", tag=tag, bad_input=True,
                message=f"Unknown request “{shown(kind, 40)}”: expected one of "
                f"{', '.join(Deployment.Kind.values)}.")  # fmt: skip
    try:
        idempotency_key = inputs.matching(
            idempotency_key, field="idempotency_key", label="request key", pattern=IDEMPOTENCY_KEY_PATTERN,
            max_length=64, hint="the form is damaged; reload the page and try again.",
        )  # fmt: skip
    except inputs.InvalidInput as exc:
        _refuse(user=user, environment=environment, action=kind, tag=tag, bad_input=True, message=exc.message)
    existing = Deployment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.environment_id != environment.pk or existing.requested_by_id != user.pk:
            _refuse(user=user, environment=environment, action=kind, tag=tag, bad_input=True,
                    message="This request key was used for another request; reload the page.")  # fmt: skip
        return existing
    tag = (tag or "").strip()
    if kind == Deployment.Kind.ROLLBACK:
        tag = gates.rollback_tag(environment)
    elif kind in (Deployment.Kind.PIN, Deployment.Kind.FOLLOW):
        tag = environment.git_tag
    elif problem := tag_check(environment, tag):
        _refuse(user=user, environment=environment, action=kind, tag=tag, message=problem, bad_input=True)
    verdict = gates.environment_verdict(
        user=user, environment=environment, action=kind, tag=tag,
        source_healthy_tag=source_healthy_tag(environment) if kind == Deployment.Kind.PROMOTE else None,
    )  # fmt: skip
    if not verdict.allowed:
        _refuse(user=user, environment=environment, action=kind, tag=tag, message=verdict.reason,
                verdict=verdict)  # fmt: skip
    try:
        with transaction.atomic():
            if verdict.approval is not None:
                # Claim the approval exactly once, even against a concurrent request.
                claimed = Approval.objects.filter(pk=verdict.approval.pk, used_at__isnull=True).update(
                    used_at=timezone.now(), used_by=user
                )
                if not claimed:
                    raise RequestRefused("That approval was just used by another request; ask again.")
            deployment = Deployment.objects.create(
                environment=environment, kind=kind, tag=tag, requested_by=user,
                idempotency_key=idempotency_key, approval=verdict.approval,
                message="Waiting for a worker.",
            )  # fmt: skip
            audit_record(
                actor=user, team=environment.team, action=f"environment.{kind}", outcome="requested",
                target=environment.audit_target, parameters={"tag": tag},
                correlation=f"deployment-{deployment.pk}",
                message=f"approved by {verdict.approval.approved_by}" if verdict.approval else "",
            )  # fmt: skip
            from apps.environments.tasks import deployment_advance

            transaction.on_commit(lambda: deployment_advance.delay(deployment.pk))
    except IntegrityError:
        # The same key submitted twice at the same moment: the other request won.
        return Deployment.objects.get(idempotency_key=idempotency_key)
    return deployment


def approval_request(
    *, user: AbstractBaseUser, environment: Environment, tag: str, reason: str = ""
) -> Approval:
    """A team member asks a lead or an SRE to approve one tag here."""
    tag = (tag or "").strip()
    try:
        reason = inputs.text(reason, field="reason", max_length=REASON_MAX_LENGTH, multiline=True)
    except inputs.InvalidInput as exc:
        _refuse(user=user, environment=environment, action="approval", tag=tag, bad_input=True,
                message=exc.message)  # fmt: skip
    if not environment.requires_approval:
        _refuse(user=user, environment=environment, action="approval", tag=tag,
                message="This environment needs no approval.")  # fmt: skip
    if problem := tag_check(environment, tag):
        _refuse(
            user=user, environment=environment, action="approval", tag=tag, message=problem, bad_input=True
        )
    role = gates.approval_ask_gate(user, environment)
    if not role.ok:
        _refuse(user=user, environment=environment, action="approval", tag=tag, message=role.message)
    open_request = Approval.objects.filter(
        environment=environment, tag=tag, used_at__isnull=True, declined_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()  # fmt: skip
    if open_request is not None:
        return _approval_asked_again(user=user, approval=open_request, reason=reason)
    now = timezone.now()
    approval = Approval.objects.create(
        environment=environment, tag=tag, reason=reason, requested_by=user,
        requested_at=now, expires_at=now + environment.approval_ttl,
    )  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action="environment.approval", outcome="requested",
        target=environment.audit_target, parameters={"tag": tag, "reason": approval.reason},
        correlation=f"approval-{approval.pk}",
    )  # fmt: skip
    return approval


def _approval_asked_again(*, user: AbstractBaseUser, approval: Approval, reason: str) -> Approval:
    """One open request per tag, but nobody's reason is dropped: a new one is added to it (and audited)."""
    if reason and reason not in approval.reason.splitlines():
        line = reason if user.pk == approval.requested_by_id else f"{user.get_username()}: {reason}"
        approval.reason = f"{approval.reason}\n{line}" if approval.reason else line
        Approval.objects.filter(pk=approval.pk).update(reason=approval.reason)
    environment = approval.environment
    audit_record(
        actor=user, team=environment.team, action="environment.approval", outcome="requested",
        target=environment.audit_target, parameters={"tag": approval.tag, "reason": reason},
        message="asked again: the open request for this tag stands", correlation=f"approval-{approval.pk}",
    )  # fmt: skip
    return approval


def approval_grant(*, user: AbstractBaseUser, approval: Approval) -> Approval:
    """A lead of the team or an SRE approves; the approval lasts the environment's TTL from now."""
    environment = approval.environment
    gate = gates.approve_gate(user, approval)
    if not gate.ok:
        _refuse(user=user, environment=environment, action="approve", tag=approval.tag, message=gate.message)
    now = timezone.now()
    updated = Approval.objects.filter(pk=approval.pk, approved_at__isnull=True, used_at__isnull=True).update(
        approved_by=user, approved_at=now, expires_at=now + environment.approval_ttl
    )
    approval.refresh_from_db()
    if not updated:
        _refuse(user=user, environment=environment, action="approve", tag=approval.tag,
                message="Someone else approved it first.")  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action="environment.approve", outcome="succeeded",
        target=environment.audit_target, parameters={"tag": approval.tag},
        message=f"requested by {approval.requested_by}", correlation=f"approval-{approval.pk}",
    )  # fmt: skip
    return approval


def approval_decline(*, user: AbstractBaseUser, approval: Approval, comment: str) -> Approval:
    """A lead of the team or an SRE says no, and why; the requester reads it and may ask again."""
    environment = approval.environment
    try:
        comment = inputs.text(comment, field="comment", max_length=REASON_MAX_LENGTH, multiline=True)
    except inputs.InvalidInput as exc:
        _refuse(user=user, environment=environment, action="decline", tag=approval.tag, bad_input=True,
                message=exc.message)  # fmt: skip
    if not comment:
        _refuse(user=user, environment=environment, action="decline", tag=approval.tag, bad_input=True,
                message="Say why you decline: the person who asked reads it.")  # fmt: skip
    gate = gates.approve_gate(user, approval, verb="decline")
    if not gate.ok:
        _refuse(user=user, environment=environment, action="decline", tag=approval.tag, message=gate.message)
    answered = Approval.objects.filter(
        pk=approval.pk, approved_at__isnull=True, used_at__isnull=True, declined_at__isnull=True
    ).update(declined_by=user, declined_at=timezone.now(), decline_comment=comment)
    approval.refresh_from_db()
    if not answered:
        _refuse(user=user, environment=environment, action="decline", tag=approval.tag,
                message="Someone else answered this request first.")  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action="environment.decline", outcome="succeeded",
        target=environment.audit_target, parameters={"tag": approval.tag, "comment": comment},
        message=f"requested by {approval.requested_by}", correlation=f"approval-{approval.pk}",
    )  # fmt: skip
    return approval

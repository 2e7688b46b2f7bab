"""Requests to change an environment, and approvals. The work itself runs in runner.py.

page -> deployment_request (gates, idempotency, audit "requested", queue the
runner on commit) -> runner.deployment_advance, one step per task run.
"""

from __future__ import annotations

import re
from functools import partial

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import inputs
from apps.core.inputs import shown
from apps.environments import gates, notify
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
            verdict=None, channel: str = "web"):  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action=f"environment.{action}",
        outcome="failed" if bad_input else "refused", target=environment.audit_target,
        parameters={"tag": tag} if tag else {}, message=message, channel=channel,
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
    *, user: AbstractBaseUser, environment: Environment, kind: str, tag: str = "", idempotency_key: str,
    channel: str = "web",
) -> Deployment:  # fmt: skip
    """Check the gates and queue the change; a repeated idempotency key returns the first request.

    The input is checked before anything is written, and every refusal is audited, whatever
    the input: an unknown kind is recorded as `environment.request`, never under its own name.
    `channel` is where the request came from (web, slack): its audit events say so.
    """
    refuse = partial(_refuse, channel=channel)
    if kind not in Deployment.Kind.values:
        refuse(user=user, environment=environment, action="request", tag=tag, bad_input=True,
                message=f"Unknown request “{shown(kind, 40)}”: expected one of "
                f"{', '.join(Deployment.Kind.values)}.")  # fmt: skip
    try:
        idempotency_key = inputs.matching(
            idempotency_key, field="idempotency_key", label="request key", pattern=IDEMPOTENCY_KEY_PATTERN,
            max_length=64, hint="the form is damaged; reload the page and try again.",
        )  # fmt: skip
    except inputs.InvalidInput as exc:
        refuse(user=user, environment=environment, action=kind, tag=tag, bad_input=True, message=exc.message)
    existing = Deployment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.environment_id != environment.pk or existing.requested_by_id != user.pk:
            refuse(user=user, environment=environment, action=kind, tag=tag, bad_input=True,
                    message="This request key was used for another request; reload the page.")  # fmt: skip
        return existing
    tag = (tag or "").strip()
    if kind == Deployment.Kind.ROLLBACK:
        tag = gates.rollback_tag(environment)
    elif kind in (Deployment.Kind.PIN, Deployment.Kind.FOLLOW):
        tag = environment.git_tag
    elif problem := tag_check(environment, tag):
        refuse(user=user, environment=environment, action=kind, tag=tag, message=problem, bad_input=True)
    verdict = gates.environment_verdict(
        user=user, environment=environment, action=kind, tag=tag,
        source_healthy_tag=source_healthy_tag(environment) if kind == Deployment.Kind.PROMOTE else None,
    )  # fmt: skip
    if not verdict.allowed:
        refuse(user=user, environment=environment, action=kind, tag=tag, message=verdict.reason,
                verdict=verdict)  # fmt: skip
    try:
        with transaction.atomic():
            if verdict.approval is not None:
                # Claim the approval exactly once, even against a concurrent request.
                claimed = Approval.objects.filter(pk=verdict.approval.pk, used_at__isnull=True).update(
                    used_at=timezone.now()
                )
                if not claimed:
                    raise RequestRefused("That approval was just used by another request; ask again.")
            deployment = Deployment.objects.create(
                environment=environment, kind=kind, tag=tag, requested_by=user,
                idempotency_key=idempotency_key, approval=verdict.approval,
                message="Waiting for a worker.", channel=channel,
            )  # fmt: skip
            audit_record(
                actor=user, team=environment.team, action=f"environment.{kind}", outcome="requested",
                target=environment.audit_target, parameters={"tag": tag},
                correlation=f"deployment-{deployment.pk}",
                message=f"approved by {verdict.approval.approved_by}" if verdict.approval else "",
                channel=channel,
            )  # fmt: skip
            if environment.is_production and kind in (Deployment.Kind.PROMOTE, Deployment.Kind.ROLLBACK):
                notify.production_change(deployment)
            from apps.environments.tasks import deployment_advance

            transaction.on_commit(lambda: deployment_advance.delay(deployment.pk))
    except IntegrityError:
        # The same key submitted twice at the same moment: the other request won.
        return Deployment.objects.get(idempotency_key=idempotency_key)
    return deployment


def approval_request(
    *, user: AbstractBaseUser, environment: Environment, tag: str, reason: str = "", channel: str = "web"
) -> Approval:
    """A team member asks a lead or an SRE to approve one tag here; they are told at once."""
    refuse = partial(_refuse, channel=channel)
    tag = (tag or "").strip()
    try:
        reason = inputs.text(reason, field="reason", max_length=REASON_MAX_LENGTH, multiline=True)
    except inputs.InvalidInput as exc:
        refuse(user=user, environment=environment, action="approval", tag=tag, bad_input=True,
                message=exc.message)  # fmt: skip
    if not environment.requires_approval:
        refuse(user=user, environment=environment, action="approval", tag=tag,
                message="This environment needs no approval.")  # fmt: skip
    if problem := tag_check(environment, tag):
        refuse(
            user=user, environment=environment, action="approval", tag=tag, message=problem, bad_input=True
        )
    role = gates.role_gate(user, environment)
    if not role.ok:
        refuse(user=user, environment=environment, action="approval", tag=tag, message=role.message)
    open_request = Approval.objects.filter(
        environment=environment, tag=tag, used_at__isnull=True, declined_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()  # fmt: skip
    if open_request is not None:
        return open_request
    now = timezone.now()
    with transaction.atomic():
        approval = Approval.objects.create(
            environment=environment, tag=tag, reason=reason, requested_by=user,
            requested_at=now, expires_at=now + environment.approval_ttl,
        )  # fmt: skip
        audit_record(
            actor=user, team=environment.team, action="environment.approval", outcome="requested",
            target=environment.audit_target, parameters={"tag": tag, "reason": approval.reason},
            correlation=f"approval-{approval.pk}", channel=channel,
        )  # fmt: skip
        notify.approval_requested(approval)
    return approval


def approval_grant(*, user: AbstractBaseUser, approval: Approval, channel: str = "web") -> Approval:
    """A lead of the team or an SRE approves; the approval lasts the environment's TTL from now."""
    return _approval_answer(user=user, approval=approval, approve=True, channel=channel)


def approval_decline(
    *, user: AbstractBaseUser, approval: Approval, reason: str = "", channel: str = "web"
) -> Approval:
    """A lead of the team or an SRE says no, with a reason the requester reads: the same gate as approving."""
    return _approval_answer(user=user, approval=approval, approve=False, reason=reason, channel=channel)


def _approval_answer(*, user, approval: Approval, approve: bool, reason: str = "", channel: str) -> Approval:
    environment = approval.environment
    action = "approve" if approve else "decline"
    refuse = partial(
        _refuse, user=user, environment=environment, action=action, tag=approval.tag, channel=channel
    )
    if not approve:
        try:
            reason = inputs.text(reason, field="reason", max_length=REASON_MAX_LENGTH, multiline=True)
        except inputs.InvalidInput as exc:
            refuse(message=exc.message, bad_input=True)
    gate = gates.approve_gate(user, approval)
    if not gate.ok:
        refuse(message=gate.message)
    now = timezone.now()
    if approve:
        answer = {"approved_by": user, "approved_at": now, "expires_at": now + environment.approval_ttl}
    else:
        answer = {"declined_by": user, "declined_at": now, "decline_reason": reason}
    with transaction.atomic():
        updated = Approval.objects.filter(
            pk=approval.pk, approved_at__isnull=True, used_at__isnull=True, declined_at__isnull=True
        ).update(**answer)
        approval.refresh_from_db()
        if updated:
            audit_record(
                actor=user, team=environment.team, action=f"environment.{action}", outcome="succeeded",
                target=environment.audit_target,
                parameters={"tag": approval.tag, **({} if approve else {"reason": reason})},
                message=f"requested by {approval.requested_by}", correlation=f"approval-{approval.pk}",
                channel=channel,
            )  # fmt: skip
            notify.approval_decided(approval, approved=approve)
    if not updated:
        refuse(message=f"Someone else answered it first: it is {approval.state}.")
    return approval

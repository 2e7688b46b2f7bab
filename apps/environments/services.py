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
from apps.environments.models import Approval, Deployment, Environment, HealthyTag
from apps.environments.selectors import environment_live, source_healthy_tag, tag_evidence
from apps.environments.signals import rollback_break_glass


class RequestRefused(Exception):
    """The request breaks a gate; the message says which and what unlocks it."""

    def __init__(self, message: str, verdict: gates.Verdict | None = None):
        super().__init__(message)
        self.verdict = verdict


class BadInput(RequestRefused):
    """The request itself is malformed (an invalid tag): a 400, not a 403."""


class TagUnconfirmed(BadInput):
    """Nothing confirms the tag exists; the requester may check it and confirm (where that is allowed)."""


ROLLBACK = "rollback"
UNCONFIRMED_NOTE = "{tag} is not confirmed by the registry scan; deployed on the requester's word."
# The form's request key: a uuid4 in hex (views.py), or any client's own key of this shape.
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REASON_MAX_LENGTH = 500


def _refuse(*, user, environment: Environment, action: str, tag: str, message: str, bad_input=False,
            verdict=None, unconfirmed=False, channel: str = "web"):  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action=f"environment.{action}",
        outcome="failed" if bad_input or unconfirmed else "refused", target=environment.audit_target,
        parameters={"tag": tag} if tag else {}, message=message, channel=channel,
    )  # fmt: skip
    exception = TagUnconfirmed if unconfirmed else BadInput if bad_input else RequestRefused
    raise exception(message, verdict)


def _tag_verdict(environment: Environment, tag: str) -> tuple[str, str]:
    """(why the tag cannot be deployed here at all, why its existence cannot be confirmed); "" when not so.

    The first is the OCI grammar, then a registry scan that lists every tag without it; the
    second is a tag no scan, image policy or running pod vouches for (selectors.tag_evidence).
    """
    if not tag:
        return "Give the image tag to deploy.", ""
    if not tag_valid(tag):
        return (
            f"“{shown(tag, 60)}” is not a valid image tag: up to 128 letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-'.",
            "",
        )
    evidence = tag_evidence(environment, tag)
    return evidence.missing, evidence.unknown


def tag_check(environment: Environment, tag: str) -> str | None:
    """Why this tag cannot be deployed here at all, or None (it may still be unconfirmed)."""
    return _tag_verdict(environment, tag)[0] or None


def _free_text(*, user, environment: Environment, action: str, tag: str, value: str, field: str,
               required: str = "", channel: str = "web") -> str:  # fmt: skip
    """A reason, comment or note checked by the input rules; `required` is the refusal when it is empty."""
    refuse = partial(_refuse, user=user, environment=environment, action=action, tag=tag, bad_input=True,
                     channel=channel)  # fmt: skip
    try:
        value = inputs.text(value, field=field, max_length=REASON_MAX_LENGTH, multiline=True)
    except inputs.InvalidInput as exc:
        refuse(message=exc.message)
    if required and not value:
        refuse(message=required)
    return value


def _request_key(*, user, environment: Environment, action: str, tag: str, idempotency_key: str,
                 channel: str = "web"):  # fmt: skip
    """The checked request key, and the deployment it already made (a repeated form), if any."""
    refuse = partial(_refuse, user=user, environment=environment, action=action, tag=tag, bad_input=True,
                     channel=channel)  # fmt: skip
    try:
        idempotency_key = inputs.matching(
            idempotency_key, field="idempotency_key", label="request key", pattern=IDEMPOTENCY_KEY_PATTERN,
            max_length=64, hint="the form is damaged; reload the page and try again.",
        )  # fmt: skip
    except inputs.InvalidInput as exc:
        refuse(message=exc.message)
    existing = Deployment.objects.filter(idempotency_key=idempotency_key).first()
    someone_else = existing is not None and existing.requested_by_id != user.pk
    if someone_else or (existing is not None and existing.environment_id != environment.pk):
        refuse(message="This request key was used for another request; reload the page.")
    return idempotency_key, existing


def deployment_request(
    *, user: AbstractBaseUser, environment: Environment, kind: str, tag: str = "", idempotency_key: str,
    confirm_unverified: bool = False, channel: str = "web",
) -> Deployment:  # fmt: skip
    """Check the gates and queue the change; a repeated idempotency key returns the first request.

    The input is checked before anything is written, and every refusal is audited, whatever
    the input: an unknown kind is recorded as `environment.request`, never under its own name.
    A tag Shirube cannot confirm exists is refused where tag changes are gated (production);
    elsewhere it needs `confirm_unverified`, the requester's word, which the deployment records.
    `channel` is where the request came from (web, slack): its audit events say so.
    """
    refuse = partial(_refuse, user=user, environment=environment, channel=channel)
    if kind not in Deployment.Kind.values:
        refuse(action="request", tag=tag, bad_input=True,
               message=f"Unknown request “{shown(kind, 40)}”: expected one of "
               f"{', '.join(Deployment.Kind.values)}.")  # fmt: skip
    idempotency_key, existing = _request_key(user=user, environment=environment, action=kind, tag=tag,
                                             idempotency_key=idempotency_key, channel=channel)  # fmt: skip
    if existing is not None:
        return existing
    tag = (tag or "").strip()
    unknown = ""
    if kind == Deployment.Kind.ROLLBACK:
        tag = gates.rollback_tag(environment)  # seen running healthy here: it exists
    elif kind in (Deployment.Kind.PIN, Deployment.Kind.FOLLOW):
        tag = environment.git_tag
    else:
        problem, unknown = _tag_verdict(environment, tag)
        if problem:
            refuse(action=kind, tag=tag, message=problem, bad_input=True)
    verdict = gates.environment_verdict(
        user=user, environment=environment, action=kind, tag=tag,
        source_healthy_tag=source_healthy_tag(environment) if kind == Deployment.Kind.PROMOTE else None,
    )  # fmt: skip
    if not verdict.allowed:
        refuse(action=kind, tag=tag, message=verdict.reason, verdict=verdict)
    if unknown and environment.tag_changes_gated:
        refuse(action=kind, tag=tag,
               message=f"{environment.slug} takes only tags known to exist, and Shirube cannot confirm "
               f"{tag}: {unknown}")  # fmt: skip
    if unknown and not confirm_unverified:
        refuse(action=kind, tag=tag, unconfirmed=True,
               message=f"Shirube cannot confirm that {tag} exists: {unknown} Check the tag (a typo deploys "
               "nothing but pods that cannot pull their image), then confirm to deploy it.")  # fmt: skip
    return _deployment_create(
        user=user, environment=environment, kind=kind, tag=tag, idempotency_key=idempotency_key,
        approval=verdict.approval, tag_unconfirmed=bool(unknown),
        note=UNCONFIRMED_NOTE.format(tag=tag) if unknown else "", channel=channel,
    )  # fmt: skip


def _deployment_create(
    *, user: AbstractBaseUser, environment: Environment, kind: str, tag: str, idempotency_key: str,
    approval: Approval | None = None, note: str = "", channel: str = "web", **fields,
) -> Deployment:  # fmt: skip
    """Write the deployment and its "requested" event, claim its approval, queue the runner on commit.

    A production promotion or rollback (break glass included) is told to the team when it starts.
    """
    try:
        with transaction.atomic():
            if approval is not None:
                # Claim the approval exactly once, even against a concurrent request.
                claimed = Approval.objects.filter(pk=approval.pk, used_at__isnull=True).update(
                    used_at=timezone.now(), used_by=user
                )
                if not claimed:
                    raise RequestRefused("That approval was just used by another request; ask again.")
            deployment = Deployment.objects.create(
                environment=environment, kind=kind, tag=tag, requested_by=user,
                idempotency_key=idempotency_key, approval=approval, message="Waiting for a worker.",
                channel=channel, **fields,
            )  # fmt: skip
            approved = f"approved by {approval.approved_by}" if approval else ""
            audit_record(
                actor=user, team=environment.team, action=f"environment.{kind}", outcome="requested",
                target=environment.audit_target, parameters={"tag": tag},
                correlation=f"deployment-{deployment.pk}", message=" ".join(filter(None, (approved, note))),
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


def deployment_break_glass(
    *, user: AbstractBaseUser, environment: Environment, reason: str, idempotency_key: str
) -> Deployment:
    """Roll back to the last healthy tag now, without approval or the learning gate, and loudly.

    For the people the environment names (break_glass_users), with a reason; the request is
    audited as `environment.break_glass`, announced through the `rollback_break_glass` signal
    (notifications subscribe to it) and waits for a lead's or an SRE's review afterwards.
    Only the last healthy tag: break glass can restore what ran, never bring anything new in,
    so promotion and its approval stay the only way forward.
    """
    action = "break_glass"
    idempotency_key, existing = _request_key(user=user, environment=environment, action=action, tag="",
                                             idempotency_key=idempotency_key)  # fmt: skip
    if existing is not None and not existing.break_glass:
        # The page's forms share one key: this one's other form was sent first (a stale page).
        _refuse(user=user, environment=environment, action=action, tag="", bad_input=True,
                message="This request key was used for another request; reload the page.")  # fmt: skip
    if existing is not None:
        return existing
    tag = gates.rollback_tag(environment)
    why = "Say why you break the glass (the incident, what is broken): everyone is told."
    reason = _free_text(
        user=user, environment=environment, action=action, tag=tag, value=reason, field="reason", required=why
    )
    checks = (gates.break_glass_gate(user, environment), gates.applicable_gate(environment, ROLLBACK, tag))
    for gate in checks:
        if not gate.ok:
            _refuse(user=user, environment=environment, action=action, tag=tag, message=gate.message)
    with transaction.atomic():
        deployment = _deployment_create(
            user=user, environment=environment, kind=Deployment.Kind.ROLLBACK, tag=tag,
            idempotency_key=idempotency_key, break_glass=True, reason=reason,
            note=f"BREAK GLASS, without approval or the learning gate: {reason}",
        )  # fmt: skip
        audit_record(
            actor=user, team=environment.team, action="environment.break_glass", outcome="requested",
            target=environment.audit_target, parameters={"tag": tag, "reason": reason},
            correlation=f"deployment-{deployment.pk}",
            message=f"BREAK GLASS: {user.get_username()} rolls {environment.slug} back to {tag} without "
            f"approval: {reason}",
        )  # fmt: skip
        transaction.on_commit(
            lambda: rollback_break_glass.send_robust(sender=Deployment, deployment=deployment, reason=reason)
        )
    return deployment


def deployment_review(*, user: AbstractBaseUser, deployment: Deployment, note: str) -> Deployment:
    """A lead of the team or an SRE (not who broke the glass) reviews a break-glass rollback."""
    environment = deployment.environment
    note = _free_text(
        user=user, environment=environment, action="break_glass_review", tag=deployment.tag, value=note,
        field="note", required="Write what the review found (a postmortem link does).",
    )  # fmt: skip
    gate = gates.review_gate(user, deployment)
    if not gate.ok:
        _refuse(user=user, environment=environment, action="break_glass_review", tag=deployment.tag,
                message=gate.message)  # fmt: skip
    reviewed = Deployment.objects.filter(pk=deployment.pk, break_glass=True, reviewed_at__isnull=True).update(
        reviewed_by=user, reviewed_at=timezone.now(), review_note=note
    )
    deployment.refresh_from_db()
    if not reviewed:
        _refuse(user=user, environment=environment, action="break_glass_review", tag=deployment.tag,
                message="Someone else reviewed it first.")  # fmt: skip
    audit_record(
        actor=user, team=environment.team, action="environment.break_glass_review", outcome="succeeded",
        target=environment.audit_target, parameters={"tag": deployment.tag, "note": note},
        correlation=f"deployment-{deployment.pk}",
        message=f"break-glass rollback by {deployment.requested_by} reviewed",
    )  # fmt: skip
    return deployment


def healthy_tag_record(*, environment: Environment, tag: str) -> None:
    """`tag` runs healthy in the environment now: a rollback target, and proof that it exists."""
    if not tag:
        return
    now = timezone.now()
    row, created = HealthyTag.objects.get_or_create(
        environment=environment, tag=tag, defaults={"first_seen_at": now, "last_seen_at": now}
    )
    if not created:
        HealthyTag.objects.filter(pk=row.pk).update(last_seen_at=now)


def healthy_tags_observe(*, cluster_id: int) -> int:
    """After a sync: record git's tag of every environment on the cluster that runs healthy on it."""
    environments = Environment.objects.filter(cluster_id=cluster_id).exclude(git_tag="")
    healthy = 0
    for environment in environments:
        if environment_live(environment).state == "healthy":
            healthy_tag_record(environment=environment, tag=environment.git_tag)
            healthy += 1
    return healthy


def approval_request(
    *, user: AbstractBaseUser, environment: Environment, tag: str, reason: str = "", channel: str = "web"
) -> Approval:
    """A team member asks a lead or an SRE to approve one tag here; they are told at once."""
    refuse = partial(_refuse, channel=channel)
    tag = (tag or "").strip()
    reason = _free_text(
        user=user, environment=environment, action="approval", tag=tag, value=reason, field="reason",
        channel=channel,
    )  # fmt: skip
    if not environment.requires_approval:
        refuse(user=user, environment=environment, action="approval", tag=tag,
                message="This environment needs no approval.")  # fmt: skip
    if problem := tag_check(environment, tag):
        refuse(
            user=user, environment=environment, action="approval", tag=tag, message=problem, bad_input=True
        )
    role = gates.approval_ask_gate(user, environment)
    if not role.ok:
        refuse(user=user, environment=environment, action="approval", tag=tag, message=role.message)
    open_request = Approval.objects.filter(
        environment=environment, tag=tag, used_at__isnull=True, declined_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).first()  # fmt: skip
    if open_request is not None:
        return _approval_asked_again(user=user, approval=open_request, reason=reason, channel=channel)
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


def _approval_asked_again(
    *, user: AbstractBaseUser, approval: Approval, reason: str, channel: str
) -> Approval:
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
        channel=channel,
    )  # fmt: skip
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
        reason = _free_text(
            user=user, environment=environment, action=action, tag=approval.tag, value=reason, field="reason",
            required="Say why you decline: the person who asked reads it.", channel=channel,
        )  # fmt: skip
    gate = gates.approve_gate(user, approval, verb=action)
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

"""Who may change an environment, and what must be true first. Every check lives here.

A gate is one condition with a plain-language explanation; a verdict is the list
of gates for one action, so a page can show not just "no" but what unlocks the
button (which lessons, whose approval, which staging state).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.permissions import is_sre, team_role
from apps.environments.models import Approval, Deployment, Environment
from apps.lessons.models import Lesson, Progress

ACTIONS = ("deploy", "promote", "rollback", "pin", "follow", "approve")
# The actions that change the tag running in the environment, and so need an approval.
TAG_CHANGES = ("deploy", "promote", "rollback")


@dataclass
class Gate:
    key: str  # role, phases, approval, source, applicable
    ok: bool
    message: str
    lessons: list[Lesson] = field(default_factory=list)  # for phases: what unlocks the action


@dataclass
class Verdict:
    action: str
    gates: list[Gate]
    approval: Approval | None = None

    @property
    def allowed(self) -> bool:
        return all(g.ok for g in self.gates)

    @property
    def failing(self) -> list[Gate]:
        return [g for g in self.gates if not g.ok]

    @property
    def reason(self) -> str:
        return " ".join(g.message for g in self.failing)


def role_gate(user: AbstractBaseUser, environment: Environment) -> Gate:
    """Members of the environment's team (or only its leads, or only SREs) and SREs."""
    if not user.is_authenticated or not user.is_active:
        return Gate("role", False, "Sign in first.")
    if is_sre(user):
        return Gate("role", True, "You are an SRE.")
    role = team_role(user, environment.team)
    required = environment.required_role
    if role is None:
        return Gate("role", False, f"Only members of {environment.team.name} may change this environment.")
    if required == Environment.Role.SRE:
        return Gate("role", False, "Only SREs may change this environment.")
    if required == Environment.Role.LEAD and role != Membership.Role.LEAD:
        return Gate("role", False, f"Only leads of {environment.team.name} may change this environment.")
    return Gate("role", True, f"You are a {role} of {environment.team.name}.")


def phases_gate(user: AbstractBaseUser, environment: Environment) -> Gate | None:
    """The required phases, complete: every published lesson in them done. SREs are exempt."""
    phases = list(environment.required_phases.all())
    if not phases:
        return None
    if is_sre(user):
        return Gate("phases", True, "SREs are exempt from the learning gate.")
    lessons = list(Lesson.objects.visible().filter(phase__in=phases).select_related("phase"))
    done = set(
        Progress.objects.filter(
            user_id=user.pk, lesson__in=lessons, status=Progress.Status.COMPLETED
        ).values_list("lesson_id", flat=True)
    )
    missing = [lesson for lesson in lessons if lesson.pk not in done]
    titles = ", ".join(f"“{p.title}”" for p in phases)
    if missing:
        return Gate(
            "phases",
            False,
            f"Complete {titles} first: {len(missing)} lesson{'s' if len(missing) != 1 else ''} to go.",
            lessons=missing,
        )
    return Gate("phases", True, f"You have completed {titles}.")


def may_approve(user: AbstractBaseUser | None, environment: Environment) -> bool:
    """An active lead of the environment's team, or an SRE: now, not when they approved."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_sre(user) or team_role(user, environment.team) == Membership.Role.LEAD


def approval_valid(approval: Approval, *, user: AbstractBaseUser) -> bool:
    return (
        approval.approved_at is not None
        and approval.used_at is None
        and approval.expires_at > timezone.now()
        and approval.approved_by_id is not None
        and approval.approved_by_id != user.pk
        # Checked at use: an approval from someone who has since lost the role does not count.
        and may_approve(approval.approved_by, approval.environment)
    )


def approver_lapsed(approval: Approval) -> str | None:
    """Why an approval given by someone who may no longer approve does not count, or None."""
    if may_approve(approval.approved_by, approval.environment):
        return None
    who = approval.approved_by.get_username() if approval.approved_by else "its approver"
    return (
        f"The approval of {approval.tag} no longer counts: {who} may no longer approve "
        f"(not an active lead of {approval.environment.team.name} or an SRE now); ask again."
    )


def approval_gate(
    user: AbstractBaseUser, environment: Environment, tag: str
) -> tuple[Gate | None, Approval | None]:
    if not environment.requires_approval:
        return None, None
    if not tag:
        return Gate("approval", False, "Each tag needs an approval here."), None
    approvals = list(
        Approval.objects.filter(environment=environment, tag=tag, used_at__isnull=True)
        .select_related("approved_by", "declined_by")
        .order_by("-approved_at")
    )
    for a in approvals:
        a.environment = environment  # the team is already loaded
    valid = next((a for a in approvals if approval_valid(a, user=user)), None)
    if valid:
        who = valid.approved_by.get_username() if valid.approved_by else "someone"
        until = timezone.localtime(valid.expires_at).strftime("%Y-%m-%d %H:%M")
        return Gate("approval", True, f"Approved by {who} until {until}."), valid
    now = timezone.now()
    lapsed = [a for a in approvals if a.approved_at and a.expires_at > now and a.approved_by_id != user.pk]
    if lapsed and (reason := approver_lapsed(lapsed[0])):
        return Gate("approval", False, reason), None
    if any(a.approved_at and a.approved_by_id == user.pk for a in approvals if a.expires_at > now):
        return Gate("approval", False, "You approved this tag yourself; someone else must approve it."), None
    if any(a.approved_at and a.expires_at <= now for a in approvals):
        return Gate("approval", False, f"The approval for {tag} has expired; ask again."), None
    if any(a.approved_at is None and a.declined_at is None and a.expires_at > now for a in approvals):
        return Gate("approval", False, f"Waiting for a lead or an SRE to approve {tag}."), None
    if declined := next((a for a in approvals if a.declined_at and a.expires_at > now), None):
        why = f": “{declined.decline_reason}”" if declined.decline_reason else ""
        who = declined.declined_by.get_username() if declined.declined_by else "a lead"
        return Gate("approval", False, f"{who} declined {tag}{why}. Ask again once it is addressed."), None
    return Gate("approval", False, f"{tag} needs an approval from a lead of the team or an SRE."), None


def approve_gate(user: AbstractBaseUser, approval: Approval) -> Gate:
    """A lead of the same team or an SRE, never the requester, while the request is open."""
    environment = approval.environment
    if not user.is_authenticated or not user.is_active:
        return Gate("approver", False, "Sign in first.")
    if approval.requested_by_id == user.pk:
        return Gate("approver", False, "You asked for this approval; someone else must give it.")
    if not may_approve(user, environment):
        return Gate("approver", False, f"Only leads of {environment.team.name} and SREs approve.")
    if approval.state != "pending":
        return Gate("approver", False, f"This request is {approval.state}.")
    return Gate("approver", True, "You may approve this.")


def applicable_gate(environment: Environment, action: str, tag: str) -> Gate:
    """Whether the action makes sense here at all, whoever asks."""
    source = environment.promotes_from
    if action == "deploy" and source:
        return Gate("applicable", False, f"Tags reach {environment.slug} by promotion from {source.slug}.")
    if action == "promote" and not source:
        return Gate("applicable", False, "This environment is not promoted to from another one.")
    if action == "rollback" and not tag:
        return Gate("applicable", False, "There is no earlier deployment to roll back to.")
    if action in ("pin", "follow") and not environment.image_policy:
        return Gate("applicable", False, "This environment does not follow an image policy.")
    if action == "follow" and environment.tag_changes_gated:
        # Gating the click would not be enough: automation would then move the tag again and
        # again, each time without an approval or a healthy run where it is promoted from.
        return Gate(
            "applicable",
            False,
            f"{environment.slug} never follows image automation: its tags change only "
            f"{'by promotion' if environment.promotes_from_id else 'by a deployment'}"
            f"{' with an approval' if environment.requires_approval else ''}, which automation would skip.",
        )
    if action == "pin" and not environment.follows_automation:
        return Gate("applicable", False, "The environment is already pinned.")
    if action == "follow" and environment.follows_automation:
        return Gate("applicable", False, "The environment already follows automation.")
    return Gate("applicable", True, "")


def source_gate(environment: Environment, tag: str, *, source_healthy_tag: str | None) -> Gate | None:
    """A promotion takes only the tag that runs healthy in the source environment."""
    source = environment.promotes_from
    if source is None:
        return None
    if not tag:
        return Gate("source", False, f"Choose the tag that runs healthy in {source.slug}.")
    if source_healthy_tag != tag:
        now = f" (it runs {source_healthy_tag} healthy now)" if source_healthy_tag else ""
        return Gate("source", False, f"{tag} is not running healthy in {source.slug}{now}.")
    return Gate("source", True, f"{tag} runs healthy in {source.slug}.")


def environment_verdict(
    *, user: AbstractBaseUser, environment: Environment, action: str, tag: str = "",
    source_healthy_tag: str | None = None, person: tuple[Gate, Gate | None] | None = None,
) -> Verdict:  # fmt: skip
    """Every gate for one action; `source_healthy_tag` comes from the live state of promotes_from.

    `person` is (role gate, phases gate) when already computed for this user and environment:
    a page showing every action checks them once.
    """
    if action not in ACTIONS or action == "approve":
        raise ValueError(f"unknown action {action!r}")
    role, phases = person or person_gates(user, environment)
    gates = [applicable_gate(environment, action, tag), role]
    if not role.ok:
        return Verdict(action, gates)
    if phases:
        gates.append(phases)
    approval = None
    if action in TAG_CHANGES:
        gate, approval = approval_gate(user, environment, tag)
        if gate:
            gates.append(gate)
    if action == "promote":
        gate = source_gate(environment, tag, source_healthy_tag=source_healthy_tag)
        if gate:
            gates.append(gate)
    return Verdict(action, gates, approval)


def person_gates(user: AbstractBaseUser, environment: Environment) -> tuple[Gate, Gate | None]:
    """The gates about who asks, whatever the action: role, then (for a role that passes) phases."""
    role = role_gate(user, environment)
    return role, phases_gate(user, environment) if role.ok else None


@dataclass
class EnvironmentActions:
    """What a page offers one user on one environment: each action's tag and verdict."""

    candidates: dict[str, str]  # action -> the tag it would deploy ("" when typed in, or none)
    verdicts: dict[str, Verdict]
    approvable: set[int]  # the approval requests this user may approve

    @property
    def deploy_blocked(self) -> bool:
        """The deploy form's tag is typed in, so its approval is only known once submitted."""
        return any(g.key != "approval" for g in self.verdicts["deploy"].failing)


def environment_actions(
    *, user: AbstractBaseUser, environment: Environment, source_healthy_tag: str | None,
    approvals: list[Approval],
) -> EnvironmentActions:  # fmt: skip
    """Every action's verdict, with who-asks gates checked once for all of them."""
    candidates = {
        "deploy": "",
        "promote": source_healthy_tag or "",
        "rollback": rollback_tag(environment),
        "pin": environment.git_tag,
        "follow": environment.git_tag,
    }
    person = person_gates(user, environment)
    verdicts = {
        action: environment_verdict(
            user=user,
            environment=environment,
            action=action,
            tag=tag,
            source_healthy_tag=source_healthy_tag,
            person=person,
        )  # fmt: skip
        for action, tag in candidates.items()
    }
    approvable = {a.pk for a in approvals if approve_gate(user, a).ok}
    return EnvironmentActions(candidates, verdicts, approvable)


def rollback_tag(environment: Environment) -> str:
    """The tag before the newest change that reached git, or "" when there is none."""
    last = (
        Deployment.objects.filter(environment=environment, kind__in=TAG_CHANGES)
        .exclude(sha="")
        .exclude(previous_tag="")
        .order_by("-requested_at", "-id")
        .first()
    )
    if last is None or last.previous_tag == environment.git_tag:
        return ""
    return last.previous_tag

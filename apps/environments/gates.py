"""Who may change an environment, and what must be true first. Every check lives here.

A gate is one condition with a plain-language explanation; a verdict is the list
of gates for one action, so a page can show not just "no" but what unlocks the
button (which lessons, whose approval, which staging state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.permissions import is_service_account, is_sre, service_environment_ids, team_role
from apps.core import timefmt
from apps.environments.models import Approval, Environment, HealthyTag
from apps.lessons.models import Lesson
from apps.lessons.selectors import completed_lesson_ids, lessons_to_complete

ACTIONS = ("deploy", "promote", "rollback", "pin", "follow", "approve")
# The actions that change the tag running in the environment, and so need an approval.
TAG_CHANGES = ("deploy", "promote", "rollback")


@dataclass
class Gate:
    key: str  # role, phases, approval, source, applicable
    ok: bool
    message: str
    lessons: list[Lesson] = field(default_factory=list)  # for phases: what unlocks the action
    # For phases: newly required lessons still in their grace period, what this person must
    # complete for them (prerequisites included), and when the first of them starts to count.
    upcoming: list[Lesson] = field(default_factory=list)
    due: datetime | None = None


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
    if is_service_account(user):
        return service_gate(user, environment)
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


def service_gate(user: AbstractBaseUser, environment: Environment) -> Gate:
    """A team's API service token: only the environments it lists, and only where they take service tokens."""
    if environment.pk not in service_environment_ids(user):
        return Gate("role", False, f"This service token may not change {environment.slug}.")
    if not environment.allow_service_tokens:
        return Gate(
            "role", False, f"{environment.slug} does not take service tokens; an SRE can allow them there."
        )
    return Gate("role", True, f"A service token of {environment.team.name}, allowed here.")


def counts_from(lesson: Lesson, environment: Environment) -> datetime | None:
    """When a required lesson starts to count for this environment's gate (None: it counts already)."""
    return lesson.gates_from + environment.requirement_grace if lesson.gates_from else None


def phases_gate(
    user: AbstractBaseUser, environment: Environment, *, now: datetime | None = None
) -> Gate | None:
    """The required phases, complete: every published lesson in them done. SREs are exempt.

    A lesson counts once its grace period has passed (counts_from): until then it is listed as
    upcoming, with the date, and takes nothing away. What is listed is the whole way: the
    missing lessons and every prerequisite they still need, since none can be completed first.
    """
    phases = list(environment.required_phases.all())
    if not phases:
        return None
    if is_sre(user):
        return Gate("phases", True, "SREs are exempt from the learning gate.")
    if is_service_account(user):
        # A machine cannot learn: the environment's allow_service_tokens (checked by the role gate)
        # is what lets CI deploy here, never a lesson completed on some account's behalf.
        return Gate("phases", True, "The learning gate is for people; this environment takes service tokens.")
    now = now or timezone.now()
    required = list(Lesson.objects.visible(now).filter(phase__in=phases).select_related("phase"))
    done = completed_lesson_ids(user=user)
    starts = {lesson.pk: counts_from(lesson, environment) for lesson in required}
    counted = [lesson for lesson in required if starts[lesson.pk] is None or starts[lesson.pk] <= now]
    coming = [lesson for lesson in required if lesson not in counted and lesson.pk not in done]
    path = lessons_to_complete(lessons=counted, done=done)
    upcoming = [lesson for lesson in lessons_to_complete(lessons=coming, done=done) if lesson not in path]
    due = min((starts[lesson.pk] for lesson in coming), default=None)
    titles = ", ".join(f"“{p.title}”" for p in phases)
    later = ""
    if upcoming:
        when = timezone.localtime(due)
        later = (f" New: {_lessons_count(upcoming)} more by {when.day} {when:%b %Y}, to keep changing "
                 "it after that.")  # fmt: skip
    if path:
        return Gate("phases", False, f"Complete {titles} first: {_lessons_count(path)} to go.{later}",
                    lessons=path, upcoming=upcoming, due=due)  # fmt: skip
    return Gate("phases", True, f"You have completed {titles}.{later}", upcoming=upcoming, due=due)


def _lessons_count(lessons: list[Lesson]) -> str:
    return f"{len(lessons)} lesson{'s' if len(lessons) != 1 else ''}"


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
    valid = next((a for a in approvals if not a.declined_at and approval_valid(a, user=user)), None)
    if valid:
        who = valid.approved_by.get_username() if valid.approved_by else "someone"
        return Gate("approval", True, f"Approved by {who} until {timefmt.when(valid.expires_at)}."), valid
    now = timezone.now()
    declined = [a for a in approvals if a.declined_at]
    approvals = [a for a in approvals if not a.declined_at]
    if declined and not any(a.expires_at > now for a in approvals):
        # The last answer was a no and nobody asked again: say who and why, not "needs an approval".
        newest = max(declined, key=lambda a: a.declined_at)
        who = newest.declined_by.get_username() if newest.declined_by else "A lead"
        return Gate("approval", False, f"{who} declined {tag}: “{newest.decline_reason}” Ask again once "
                    "that is addressed."), None  # fmt: skip
    lapsed = [a for a in approvals if a.approved_at and a.expires_at > now and a.approved_by_id != user.pk]
    if lapsed and (reason := approver_lapsed(lapsed[0])):
        return Gate("approval", False, reason), None
    if any(a.approved_at and a.approved_by_id == user.pk for a in approvals if a.expires_at > now):
        return Gate("approval", False, "You approved this tag yourself; someone else must approve it."), None
    if any(a.approved_at and a.expires_at <= now for a in approvals):
        return Gate("approval", False, f"The approval for {tag} has expired; ask again."), None
    if any(a.approved_at is None and a.declined_at is None and a.expires_at > now for a in approvals):
        return Gate("approval", False, f"Waiting for a lead or an SRE to approve {tag}."), None
    return Gate("approval", False, f"{tag} needs an approval from a lead of the team or an SRE."), None


def approval_ask_gate(user: AbstractBaseUser, environment: Environment) -> Gate:
    """Who may ask for an approval: whoever the role gate lets change the environment at all.

    Someone it refuses could never use an approval, so the page does not offer them the form.
    """
    return role_gate(user, environment)


def approve_gate(user: AbstractBaseUser, approval: Approval, *, verb: str = "approve") -> Gate:
    """A lead of the same team or an SRE, never the requester, while the request is open.

    The same people answer either way: `verb` is "approve" or "decline", for the messages.
    """
    environment = approval.environment
    if not user.is_authenticated or not user.is_active:
        return Gate("approver", False, "Sign in first.")
    if approval.requested_by_id == user.pk:
        return Gate("approver", False, "You asked for this approval; someone else must answer it.")
    if not may_approve(user, environment):
        return Gate("approver", False, f"Only leads of {environment.team.name} and SREs {verb}.")
    if approval.state != "pending":
        return Gate("approver", False, f"This request is {approval.state}.")
    return Gate("approver", True, f"You may {verb} this.")


def break_glass_gate(user: AbstractBaseUser, environment: Environment) -> Gate:
    """The people the environment names may roll it back without approval or the learning gate."""
    if not user.is_authenticated or not user.is_active:
        return Gate("break_glass", False, "Sign in first.")
    if not environment.break_glass_users.filter(pk=user.pk).exists():
        return Gate("break_glass", False, f"Only the people {environment.slug} names for break-glass "
                    "rollback may roll it back without an approval.")  # fmt: skip
    return Gate("break_glass", True, "You may break the glass here: roll back to the last healthy tag now, "
                "with a reason, reviewed afterwards.")  # fmt: skip


def review_gate(user: AbstractBaseUser, deployment) -> Gate:
    """A lead of the team or an SRE reviews a break-glass rollback; never the person who broke the glass."""
    if not deployment.break_glass:
        return Gate("review", False, "Only break-glass rollbacks are reviewed.")
    if deployment.reviewed_at is not None:
        return Gate("review", False, "It has been reviewed already.")
    if deployment.requested_by_id == user.pk:
        return Gate("review", False, "You broke the glass; someone else reviews it.")
    if not may_approve(user, deployment.environment):
        return Gate("review", False, f"Only leads of {deployment.environment.team.name} and SREs review it.")
    return Gate("review", True, "You may review this.")


def applicable_gate(environment: Environment, action: str, tag: str) -> Gate:
    """Whether the action makes sense here at all, whoever asks."""
    source = environment.promotes_from
    if action == "deploy" and source:
        return Gate("applicable", False, f"Tags reach {environment.slug} by promotion from {source.slug}.")
    if action == "promote" and not source:
        return Gate("applicable", False, "This environment is not promoted to from another one.")
    if action == "rollback" and not tag:
        return Gate("applicable", False, "No other tag has been seen running healthy here, so there is "
                    "nothing to roll back to.")  # fmt: skip
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
    approvable: set[int]  # the approval requests this user may approve (or decline)
    ask: Gate | None = None  # who may ask for an approval here (None: no approvals here)
    # Offered when this person may break the glass and the ordinary rollback is closed to them.
    break_glass: bool = False

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
    # Asking is checked by the role gate alone, already computed in `person`.
    ask = person[0] if environment.requires_approval else None
    break_glass = (
        not verdicts["rollback"].allowed
        and applicable_gate(environment, "rollback", candidates["rollback"]).ok
        and break_glass_gate(user, environment).ok
    )
    return EnvironmentActions(candidates, verdicts, approvable, ask, break_glass)


def rollback_tag(environment: Environment) -> str:
    """The tag last seen running healthy here, other than the one git asks for now, or "".

    Never simply "the tag before the last deployment": that may be a typo that never ran, and
    rolling back to it in an incident would make things worse. HealthyTag rows are written when a
    deployment ends healthy, when a tag change starts from a healthy state, and after syncs.
    """
    row = HealthyTag.objects.filter(environment=environment).exclude(tag=environment.git_tag).first()
    return row.tag if row else ""

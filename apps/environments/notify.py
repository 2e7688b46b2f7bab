"""What environments tell people, written to the outbox in the same transaction as the event.

Each function is called by the service or runner step that records the event, inside its
transaction, so a message exists exactly when its event does. Every deployment message
carries the thread key `deployment-<pk>`: a deployment started from Slack has a thread
(apps.chatops opens it), and its progress and outcome are answered there.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.accounts.models import SRE_GROUP, Membership
from apps.environments.models import Approval, Deployment, Environment
from apps.notifications.services import notification_enqueue

APPROVE_ACTION = "approval_approve"
DECLINE_ACTION = "approval_decline"


def _page(environment: Environment) -> str:
    return reverse("environments:detail", args=[environment.team.slug, environment.slug])


def thread_key(deployment: Deployment) -> str:
    return f"deployment-{deployment.pk}"


def _who(user) -> str:
    return user.get_username() if user else "Shirube"


def approvers(environment: Environment) -> list:
    """The team's active leads, and the SREs where the environment asks for them."""
    users = get_user_model().objects.filter(is_active=True)
    leads = users.filter(memberships__team=environment.team, memberships__role=Membership.Role.LEAD)
    found = list(leads)
    if environment.approvals_notify_sres:
        found += list(users.filter(groups__name=SRE_GROUP))
    return found


def approval_requested(approval: Approval) -> None:
    env = approval.environment
    reason = f"\n“{approval.reason}”" if approval.reason else ""
    notification_enqueue(
        kind="approval.requested", team=env.team,
        title=f"{_who(approval.requested_by)} asks you to approve {approval.tag} for {env.slug}",
        text=f"{env.team.name}: {env.app} {approval.tag} to {env.stage}.{reason}", link=_page(env),
        users=[u for u in approvers(env) if u.pk != approval.requested_by_id],
        actions=[
            {"action_id": APPROVE_ACTION, "text": "Approve", "value": str(approval.pk), "style": "primary"},
            {"action_id": DECLINE_ACTION, "text": "Decline", "value": str(approval.pk), "style": "danger"},
        ],
    )  # fmt: skip


def approval_decided(approval: Approval, *, approved: bool) -> None:
    env = approval.environment
    if approved:
        title = f"{_who(approval.approved_by)} approved {approval.tag} for {env.slug}"
        text = "You can deploy it now; the approval is used by the first deployment of that tag."
    else:
        title = f"{_who(approval.declined_by)} declined {approval.tag} for {env.slug}"
        text = f"Why: {approval.decline_reason}" if approval.decline_reason else ""
    notification_enqueue(
        kind="approval.decided", team=env.team, title=title, text=text, link=_page(env),
        users=[approval.requested_by],
    )  # fmt: skip


def _verb(deployment: Deployment) -> str:
    return Deployment.Kind(deployment.kind).label.lower()


def production_change(deployment: Deployment) -> None:
    """A promotion or rollback of production started: the team's channel hears it at once.

    Also the hook for any other change to production that skips the usual path (a
    break-glass rollback): call it from that path's signal receiver.
    """
    env = deployment.environment
    notification_enqueue(
        kind="production.change", team=env.team, team_channel=True, link=_page(env),
        title=f"{_who(deployment.requested_by)}: {_verb(deployment)} {env.slug} to {deployment.tag}",
        text=f"Requested through {deployment.channel}." if deployment.channel != "web" else "",
        thread_key=thread_key(deployment),
    )  # fmt: skip


def deployment_progress(deployment: Deployment, message: str) -> None:
    """A step of the deployment, only in its Slack threads (none for one started on the web)."""
    env = deployment.environment
    notification_enqueue(
        kind="deployment.progress", team=env.team, title=f"{deployment.status}: {message}"[:300],
        link=_page(env), thread_key=thread_key(deployment), in_threads=True,
    )  # fmt: skip


def deployment_finished(deployment: Deployment, *, timed_out: bool = False) -> None:
    """Succeeded, failed or timed out (naming the step): the requester and the team's channel."""
    env = deployment.environment
    if deployment.status in (Deployment.Status.HEALTHY, Deployment.Status.DONE):
        outcome = "succeeded"
    elif timed_out:
        outcome = f"timed out at {deployment.failed_step}"
    else:
        outcome = f"failed at {deployment.failed_step}" if deployment.failed_step else "failed"
    notification_enqueue(
        kind="deployment.finished", team=env.team, team_channel=True, users=[deployment.requested_by],
        title=f"{_verb(deployment).capitalize()} of {deployment.tag} to {env.slug} {outcome}",
        text=deployment.message, link=_page(env), thread_key=thread_key(deployment), in_threads=True,
    )  # fmt: skip

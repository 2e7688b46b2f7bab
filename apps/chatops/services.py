"""The Slack app: `/shirube` commands and buttons, through the very services and gates of the web pages.

Requests arrive verified (verify.py) and are acknowledged at once; the work runs in a
Celery task (`command_run`), which answers through the request's `response_url` (Slack
takes at most 5 answers per URL, counted here). Who acts is the Shirube user linked to
the Slack user; an unlinked user is told how to link, the refusal is audited, and
nothing happens. Every action goes through apps.environments' services with
channel="slack", so the same gates apply and the same audit events say where it came from.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Team
from apps.accounts.permissions import can_read_team
from apps.audit.services import audit_record
from apps.chatops.models import ChatCommand
from apps.clusters.flux_actions import ActionRefused, flux_action_request, flux_object_team
from apps.clusters.models import FluxAction, FluxObject
from apps.core.inputs import shown
from apps.environments import notify, selectors
from apps.environments.models import Approval, Deployment, Environment
from apps.environments.services import RequestRefused, approval_decline, approval_grant, deployment_request
from apps.notifications import services as notifications
from apps.notifications.channels import Permanent, Transient, slack_call
from apps.notifications.models import SlackLink
from apps.notifications.render import absolute, slack_escape

log = logging.getLogger(__name__)

MAX_RESPONSES = 5  # Slack: a response_url takes 5 answers within 30 minutes
DECLINE_CALLBACK = "approval_decline_reason"

HELP = """*Shirube from Slack*: the same gates, approvals and audit as the web pages.
• `/shirube deploy <environment> <tag>`: deploy a tag (staging)
• `/shirube promote <environment> [<tag>]`: promote what runs healthy where it is promoted from
• `/shirube rollback <environment>`: back to the tag before the last deployment
• `/shirube approve <environment> <tag>`: approve an open request (or press Approve on the request message)
• `/shirube status <team|environment>`: what runs, and the last deployment
• `/shirube reconcile|resume <Kind>/<namespace>/<name>`, `/shirube suspend <Kind>/<namespace>/<name> <why>`:
  Flux actions (`<cluster>:<Kind>/…` where several clusters have the object)
• `/shirube link <code>`: link your Slack account (get a code on your Shirube settings page)
Environments are named `<app>-<stage>` (`checkout-api-staging`), or `<team>/<app>-<stage>` where two
teams share a name."""

VERBS = (
    "deploy",
    "promote",
    "rollback",
    "approve",
    "status",
    "reconcile",
    "suspend",
    "resume",
    "link",
    "help",
)
WORD = re.compile(r"\S+")


def _enqueue(command: ChatCommand) -> None:
    from apps.chatops.tasks import chat_command_run

    transaction.on_commit(lambda: chat_command_run.delay(command.pk))


def command_receive(*, slack_team_id: str, slack_user_id: str, channel_id: str, text: str,
                    response_url: str) -> str:  # fmt: skip
    """Record a slash command and queue it; the immediate (ephemeral) answer."""
    text = " ".join(WORD.findall(shown(text, 500)))
    verb = text.split(" ", 1)[0].lower() if text else "help"
    if verb == "help" or verb not in VERBS:
        return HELP if verb == "help" else f"I do not know `{slack_escape(verb)}`.\n{HELP}"
    command = ChatCommand.objects.create(
        source=ChatCommand.Source.COMMAND, slack_team_id=slack_team_id[:32], slack_user_id=slack_user_id[:32],
        channel_id=channel_id[:32], text=text, response_url=response_url[:500],
    )  # fmt: skip
    _enqueue(command)
    return f"Working on `/shirube {slack_escape(text)}`…"


def _decline_form(approval_id: str, response_url: str, channel_id: str) -> dict:
    return {
        "type": "modal",
        "callback_id": DECLINE_CALLBACK,
        "private_metadata": json.dumps(
            {"approval": approval_id, "response_url": response_url, "channel": channel_id}
        )[:3000],  # fmt: skip
        "title": {"type": "plain_text", "text": "Decline the request"},
        "submit": {"type": "plain_text", "text": "Decline"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why not? The requester reads this."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 500,
                },
            }
        ],
    }


def interaction_receive(*, payload: dict) -> None:
    """A button press or a form submission: queue it (or open the decline form, which must be now)."""
    user = payload.get("user") or {}
    team_id = str((payload.get("team") or {}).get("id") or user.get("team_id") or "")
    user_id = str(user.get("id") or "")
    channel_id = str((payload.get("channel") or {}).get("id") or "")
    kind = payload.get("type")
    if kind == "block_actions":
        action = (payload.get("actions") or [{}])[0]
        action_id, value = action.get("action_id"), str(action.get("value", ""))
        if not value.isdigit():
            return
        response_url = str(payload.get("response_url") or "")
        if action_id == notify.APPROVE_ACTION:
            text = f"approve-request {value}"
        elif action_id == notify.DECLINE_ACTION:
            # The form must open within 3 seconds of the press (its trigger_id expires): here, not in a task.
            try:
                slack_call("views.open", trigger_id=payload.get("trigger_id", ""),
                           view=_decline_form(value, response_url, channel_id))  # fmt: skip
            except (Transient, Permanent) as exc:
                log.warning("could not open the decline form: %s", exc)
            return
        else:
            return
        command = ChatCommand.objects.create(
            source=ChatCommand.Source.ACTION, slack_team_id=team_id[:32], slack_user_id=user_id[:32],
            channel_id=channel_id[:32], text=text, response_url=response_url[:500],
        )  # fmt: skip
        _enqueue(command)
    elif kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == DECLINE_CALLBACK:
        view = payload["view"]
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            return
        reason = (((view.get("state") or {}).get("values") or {}).get("reason") or {}).get("reason") or {}
        approval_id = str(meta.get("approval", ""))
        if not approval_id.isdigit():
            return
        command = ChatCommand.objects.create(
            source=ChatCommand.Source.VIEW, slack_team_id=team_id[:32], slack_user_id=user_id[:32],
            channel_id=str(meta.get("channel", ""))[:32],
            response_url=str(meta.get("response_url", ""))[:500],
            text=f"decline-request {approval_id} {shown(str(reason.get('value') or ''), 600)}"[:1000],
        )  # fmt: skip
        _enqueue(command)


def commands_prune(*, days: int) -> int:
    """Commands (with their response_url) older than `days` go."""
    deleted, _ = ChatCommand.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted


# -- The worker's side ---------------------------------------------------------------------------


def respond(command: ChatCommand, text: str, *, replace_original: bool = False) -> None:
    """Answer through the command's response_url (ephemeral), at most MAX_RESPONSES times."""
    from slack_sdk.webhook import WebhookClient

    url = command.response_url
    if not url or not url.startswith(settings.SHIRUBE_SLACK_RESPONSE_URL_PREFIX):
        log.warning("chat command %s: no usable response_url; answer not sent", command.pk)
        return
    claimed = ChatCommand.objects.filter(pk=command.pk, responses_sent__lt=MAX_RESPONSES).update(
        responses_sent=command.responses_sent + 1
    )
    if not claimed:
        return
    command.responses_sent += 1
    try:
        WebhookClient(url, timeout=settings.SHIRUBE_SLACK_TIMEOUT).send(
            text=text[:3000], response_type="ephemeral", replace_original=replace_original
        )
    except OSError as exc:
        log.warning("chat command %s: answer not sent: %s", command.pk, type(exc).__name__)


def _refused_unlinked(command: ChatCommand, why: str) -> str:
    verb = command.text.split(" ", 1)[0]
    audit_record(
        actor=None, team=None, action=f"chatops.{verb}"[:50], outcome="refused",
        target=f"slack:{command.slack_team_id}/{command.slack_user_id}", parameters={"text": command.text},
        message=f"Unlinked Slack user: {why}", channel="slack",
    )  # fmt: skip
    settings_url = absolute(reverse("notifications:settings"))
    return (
        f"I do not know who you are in Shirube yet ({why}), so nothing was done. Link your account: open "
        f"<{settings_url}#slack|your Shirube settings>, get a code, and type `/shirube link <code>` here."
    )


def _actor(command: ChatCommand):
    """The linked Shirube user; linked now through Slack's confirmed e-mail if that is unambiguous."""
    link = SlackLink.objects.filter(
        slack_team_id=command.slack_team_id, slack_user_id=command.slack_user_id
    ).select_related("user").first()  # fmt: skip
    if link is not None:
        return (
            link.user if link.user.is_active else None,
            "" if link.user.is_active else "account deactivated",
        )
    try:
        info = slack_call("users.info", user=command.slack_user_id).get("user") or {}
        link = notifications.slack_link_by_email(
            slack_team_id=command.slack_team_id, slack_user_id=command.slack_user_id,
            email=str((info.get("profile") or {}).get("email") or ""),
            confirmed=bool(info.get("is_email_confirmed")),
        )  # fmt: skip
    except notifications.LinkRefused as exc:
        return None, str(exc).rstrip(".")
    except (Transient, Permanent) as exc:
        return None, f"Slack did not say who you are: {exc}"
    return link.user, ""


def command_run(*, command_id: int) -> str | None:
    """Run one queued command as its linked user and answer it; the answer, or None if already run."""
    command = ChatCommand.objects.filter(pk=command_id, done_at__isnull=True).first()
    if command is None:
        return None  # run before (a redelivered task)
    verb, _, rest = command.text.partition(" ")
    if verb == "link":
        answer = _link(command, rest)
    else:
        user, why = _actor(command)
        if user is None:
            answer = _refused_unlinked(command, why)
        else:
            ChatCommand.objects.filter(pk=command.pk).update(user=user)
            try:
                answer = _dispatch(command, user, verb, rest.split())
            except RequestRefused as exc:
                answer = _refusal(exc)
    ChatCommand.objects.filter(pk=command.pk).update(answer=answer[:4000], done_at=timezone.now())
    respond(command, answer)
    return answer


def _link(command: ChatCommand, code: str) -> str:
    try:
        link = notifications.slack_link_by_code(
            code=code, slack_team_id=command.slack_team_id, slack_user_id=command.slack_user_id
        )
    except notifications.LinkRefused as exc:
        return str(exc)
    return f"Linked: in Shirube you are *{slack_escape(link.user.get_username())}*."


def _refusal(exc: RequestRefused) -> str:
    """The gate's own words, and the lessons that unlock it."""
    lines = [f":no_entry: {slack_escape(str(exc))}"]
    verdict = exc.verdict
    for gate in verdict.failing if verdict else []:
        for lesson in gate.lessons[:10]:
            url = absolute(reverse("lessons:lesson", args=[lesson.phase.slug, lesson.slug]))
            lines.append(f"• <{url}|{slack_escape(lesson.title)}>")
    return "\n".join(lines)


class _NotFound(Exception):
    pass


def _environment(user, name: str) -> Environment:
    """`<app>-<stage>` or `<team>/<app>-<stage>`; among equal names, the user's own team's."""
    team_slug, _, slug = name.rpartition("/")
    app, _, stage = slug.rpartition("-")
    found = Environment.objects.filter(app=app, stage=stage).select_related(
        "team", "cluster", "promotes_from"
    )
    if team_slug:
        found = found.filter(team__slug=team_slug)
    found = [e for e in found if can_read_team(user, e.team)]
    if len(found) > 1:
        mine = [e for e in found if e.team.memberships.filter(user=user).exists()]
        found = mine if len(mine) == 1 else found
    if len(found) != 1:
        if not found:
            raise _NotFound(f"No environment `{slack_escape(name)}`. Try `/shirube status <team>`.")
        teams = ", ".join(f"`{e.team.slug}/{slug}`" for e in found)
        raise _NotFound(f"Several teams have `{slack_escape(slug)}`: say which, {teams}.")
    return found[0]


def _page(environment: Environment) -> str:
    return absolute(reverse("environments:detail", args=[environment.team.slug, environment.slug]))


def _dispatch(command: ChatCommand, user, verb: str, args: list[str]) -> str:
    try:
        if verb in ("deploy", "promote", "rollback"):
            return _change(command, user, verb, args)
        if verb == "approve":
            return _approve(user, args)
        if verb == "approve-request":
            return _approve_request(user, args)
        if verb == "decline-request":
            return _decline_request(command, user)
        if verb == "status":
            return _status(user, args)
        if verb in ("reconcile", "suspend", "resume"):
            return _flux(user, verb, args)
    except _NotFound as exc:
        return str(exc)
    return HELP


def _change(command: ChatCommand, user, verb: str, args: list[str]) -> str:
    usage = {"deploy": "deploy <environment> <tag>", "promote": "promote <environment> [<tag>]",
             "rollback": "rollback <environment>"}[verb]  # fmt: skip
    if not args or (verb == "deploy" and len(args) != 2) or len(args) > 2:
        return f"Usage: `/shirube {usage}`"
    environment = _environment(user, args[0])
    tag = args[1] if len(args) > 1 else ""
    if verb == "promote" and not tag:
        tag = selectors.source_healthy_tag(environment) or ""
        if not tag and environment.promotes_from:
            return f"Nothing runs healthy in *{environment.promotes_from.slug}* to promote; name the tag."
    refused = None
    with transaction.atomic():
        try:
            deployment = deployment_request(
                user=user, environment=environment, kind=verb, tag=tag, idempotency_key=f"slack-{command.pk}",
                channel="slack",
            )  # fmt: skip
        except RequestRefused as exc:
            refused = exc  # raised once this block has committed: the refusal's audit event must stay
        if refused is None and command.channel_id:
            # The thread the runner's progress answers in: opened in this transaction, before the
            # runner's first step can run (it is queued when this commits).
            notifications.notification_enqueue(
                kind="deployment.progress", team=environment.team, link=_page(environment),
                title=f"{user.get_username()}: {Deployment.Kind(deployment.kind).label.lower()} "
                f"{deployment.tag} to {environment.slug} (from Slack)",
                slack_addresses=[command.channel_id], thread_root=True,
                thread_key=notify.thread_key(deployment),
                dedupe_key=f"thread-root-{notify.thread_key(deployment)}",
            )  # fmt: skip
    if refused is not None:
        raise refused
    return (
        f":rocket: {Deployment.Kind(deployment.kind).label} `{deployment.tag}` to *{environment.slug}*: "
        f"deployment #{deployment.pk} is {deployment.status}. Its progress goes in the thread under the "
        f"message in this channel; <{_page(environment)}|follow it on the page>."
    )


def _approval_answer(approval: Approval, verb: str) -> str:
    env, who = approval.environment, approval.requested_by
    return f":white_check_mark: {verb} `{approval.tag}` for *{env.slug}*; {who} is told."


def _approve(user, args: list[str]) -> str:
    if len(args) != 2:
        return "Usage: `/shirube approve <environment> <tag>`"
    environment = _environment(user, args[0])
    approval = (
        Approval.objects.filter(environment=environment, tag=args[1], approved_at__isnull=True,
                                used_at__isnull=True, declined_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("environment__team", "environment__cluster", "requested_by")
        .first()
    )  # fmt: skip
    if approval is None:
        return f"Nobody asked to approve `{slack_escape(args[1])}` for *{environment.slug}*."
    return _approval_answer(approval_grant(user=user, approval=approval, channel="slack"), "Approved")


def _approval(args: list[str]) -> Approval:
    approval = (
        Approval.objects.filter(pk=int(args[0]))
        .select_related("environment__team", "environment__cluster", "requested_by")
        .first()
    )
    if approval is None:
        raise _NotFound("That approval request no longer exists.")
    return approval


def _approve_request(user, args: list[str]) -> str:
    approval = _approval(args)
    if not can_read_team(user, approval.environment.team):
        raise _NotFound("That approval request no longer exists.")
    return _approval_answer(approval_grant(user=user, approval=approval, channel="slack"), "Approved")


def _decline_request(command: ChatCommand, user) -> str:
    _, approval_id, reason = (command.text.split(" ", 2) + [""])[:3]
    approval = _approval([approval_id])
    if not can_read_team(user, approval.environment.team):
        raise _NotFound("That approval request no longer exists.")
    return _approval_answer(approval_decline(user=user, approval=approval, reason=reason, channel="slack"),
                            "Declined")  # fmt: skip


def _status(user, args: list[str]) -> str:
    if len(args) != 1:
        return "Usage: `/shirube status <team|environment>`"
    team = Team.objects.filter(slug=args[0]).first()
    if team is not None and can_read_team(user, team):
        rows = selectors.team_environments(team=team)
        url = absolute(reverse("environments:list", args=[team.slug]))
        lines = [
            f"*<{url}|{slack_escape(team.name)}>*: {len(rows)} environment{'s' if len(rows) != 1 else ''}"
        ]
        lines += [_status_line(row.environment, row.live.state, row.last) for row in rows[:20]]
        return "\n".join(lines)
    environment = _environment(user, args[0])
    last = environment.deployments.order_by("-requested_at", "-id").first()
    return _status_line(environment, selectors.environment_live(environment).state, last)


def _status_line(environment: Environment, state: str, last: Deployment | None) -> str:
    line = f"• <{_page(environment)}|{environment.slug}>: `{environment.git_tag or '?'}` in git, {state}"
    if environment.pinned:
        line += ", pinned"
    if last is not None:
        line += f"; last: {last.kind} `{last.tag}` {last.status}"
    return line


def _flux(user, verb: str, args: list[str]) -> str:
    """A Flux action through apps.clusters.flux_actions, the same request (and gate) as the Flux page."""
    if not args or (verb == "suspend" and len(args) < 2) or (verb != "suspend" and len(args) != 1):
        why = " <why>" if verb == "suspend" else ""
        return f"Usage: `/shirube {verb} <Kind>/<namespace>/<name>{why}`"
    cluster, _, ref = args[0].rpartition(":")
    kind, _, rest = ref.partition("/")
    namespace, _, name = rest.partition("/")
    found = FluxObject.objects.filter(kind__iexact=kind, namespace=namespace, name=name).select_related(
        "cluster"
    )
    if cluster:
        found = found.filter(cluster__name=cluster)
    found = list(found[:5])
    if len(found) != 1:
        if not found:
            return f"No Flux object `{slack_escape(args[0])}` in the last sync."
        clusters = ", ".join(f"`{o.cluster.name}:{o.kind}/{o.namespace}/{o.name}`" for o in found)
        return f"Several clusters have it: say which, {clusters}."
    obj = found[0]
    try:
        action = flux_action_request(
            user=user, obj=obj, action=verb, reason=" ".join(args[1:]), channel="slack"
        )
    except ActionRefused as exc:
        return f":no_entry: {slack_escape(str(exc))}"
    team = flux_object_team(obj)
    page = (
        f"; <{absolute(reverse('clusters:flux', args=[team.slug]))}|follow it on the Flux page>"
        if team
        else ""
    )
    what = f"{obj.kind} {obj.namespace}/{obj.name} on {obj.cluster.name}"
    return (
        f":arrows_counterclockwise: {FluxAction.Kind(verb).label} requested for {what} (#{action.pk}){page}."
    )

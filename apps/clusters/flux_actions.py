"""Flux actions: reconcile, suspend, resume. Who may do what, and the request.

page -> flux_action_request (permission, audit "requested", queue the first step on
commit) -> flux_runner, one step per task run (merge patch, look for Flux's answer,
audit the outcome) -> a sync, so the pages show the result.
"""

from __future__ import annotations

from typing import NoReturn

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team
from apps.accounts.permissions import can_act_on_team
from apps.audit.services import audit_record
from apps.clusters.models import FluxAction, FluxObject, Namespace
from apps.clusters.signals import flux_objects_production
from apps.core import inputs
from apps.core.inputs import shown

ACTIONABLE = {"Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository",
              "HelmChart", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation"}  # fmt: skip


class ActionRefused(Exception):
    pass


class BadInput(ActionRefused):
    """The request itself is malformed (its reason, say): a 400, not a 403."""


# Stored with the action and as the object's shirube.io/suspend-reason annotation.
REASON_MAX_LENGTH = 500


def flux_object_team(obj: FluxObject) -> Team | None:
    """The team that owns the namespace the object lives in, or deploys into."""
    names = [obj.namespace] + ([obj.target_namespace] if obj.target_namespace else [])
    namespaces = Namespace.objects.filter(cluster_id=obj.cluster_id, name__in=names, team__isnull=False)
    teams = {ns.team_id: ns.team for ns in namespaces.select_related("team")}
    return next(iter(teams.values())) if len(teams) == 1 else None


def actions_applicable(obj: FluxObject) -> list[str]:
    """What can be done to this object at all, whoever asks: suspend or resume, never both."""
    if obj.kind not in ACTIONABLE:
        return []
    return [FluxAction.Kind.RECONCILE, FluxAction.Kind.RESUME if obj.suspended else FluxAction.Kind.SUSPEND]


def flux_objects_in_production(objects: list[FluxObject]) -> set[int]:
    """The pks of the objects that act on production: on a production cluster, or (say the
    apps that know) deploying or feeding a production environment. The stricter stage wins,
    so nothing on a production cluster is ever treated as staging."""
    production = {obj.pk for obj in objects if obj.cluster.is_production}
    rest = [obj for obj in objects if obj.pk not in production]
    if rest:
        for _receiver, answer in flux_objects_production.send(sender=FluxObject, objects=rest):
            production |= set(answer or ())
    return production


def flux_action_allowed(*, user, obj: FluxObject, action: str) -> bool:
    if action not in actions_applicable(obj):
        return False
    production = obj.pk in flux_objects_in_production([obj])
    return can_act_on_team(user, flux_object_team(obj), production=production)


def flux_action_request(
    *, user, obj: FluxObject, action: str, reason: str = "", channel: str = "web"
) -> FluxAction:
    """Check, record and queue an action; raises ActionRefused with the reason for a refusal.

    The input is checked before anything is written, and every refusal is audited,
    whatever the input (the audit log stores a printable, bounded form of it).
    """
    team = flux_object_team(obj)
    target = f"{obj.cluster.name}/{obj.namespace}/{obj.kind}/{obj.name}"

    def refuse(message: str, *, bad_input: bool = False, audited_action: str = action) -> NoReturn:
        audit_record(actor=user, team=team, action=f"flux.{audited_action}",
                     outcome="failed" if bad_input else "refused", target=target,
                     parameters={"reason": reason} if reason else {}, message=message,
                     channel=channel)  # fmt: skip
        raise (BadInput if bad_input else ActionRefused)(message)

    if action not in FluxAction.Kind.values:
        refuse(f"Unknown action “{shown(action, 40)}”.", bad_input=True, audited_action="request")
    try:
        reason = inputs.text(reason, field="reason", max_length=REASON_MAX_LENGTH, multiline=True)
    except inputs.InvalidInput as exc:
        refuse(exc.message, bad_input=True)
    if action == FluxAction.Kind.SUSPEND and not reason:
        refuse("Say why you suspend it: the reason is shown to everyone until it is resumed.", bad_input=True)
    if not flux_action_allowed(user=user, obj=obj, action=action):
        refuse("You may not do this here.")
    with transaction.atomic():
        flux_action = FluxAction.objects.create(
            cluster=obj.cluster, team=team, kind=obj.kind, api_version=obj.api_version,
            namespace=obj.namespace, name=obj.name, action=action, reason=reason, requested_by=user,
            token=timezone.now().isoformat(timespec="microseconds"), channel=channel,
        )  # fmt: skip
        audit_record(
            actor=user,
            team=team,
            action=f"flux.{action}",
            outcome="requested",
            target=target,
            parameters={"reason": reason} if reason else {},
            correlation=str(flux_action.pk),
            channel=channel,
        )
        from apps.clusters.tasks import flux_action_advance

        transaction.on_commit(lambda: flux_action_advance.delay(flux_action.pk))
    return flux_action

"""Flux actions: reconcile, suspend, resume. Requested from a page, run by a Celery task.

page -> flux_action_request (permission, audit "requested", queue the task on
commit) -> flux_action_run (merge patch, wait for Flux, audit the outcome,
queue a sync so the pages show the result).
"""

from __future__ import annotations

import logging
import time
from typing import NoReturn

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Team
from apps.accounts.permissions import can_act_on_team
from apps.audit.services import audit_record
from apps.clusters import kube
from apps.clusters.models import FluxAction, FluxObject, Namespace
from apps.clusters.signals import flux_objects_production
from apps.core import inputs
from apps.core.inputs import shown

log = logging.getLogger(__name__)

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
SUSPENDED_BY = "shirube.io/suspended-by"
SUSPEND_REASON = "shirube.io/suspend-reason"
ACTIONABLE = {"Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository",
              "HelmChart", "ImageRepository", "ImagePolicy", "ImageUpdateAutomation"}  # fmt: skip
POLL_SECONDS = 2.0


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


def flux_action_request(*, user, obj: FluxObject, action: str, reason: str = "") -> FluxAction:
    """Check, record and queue an action; raises ActionRefused with the reason for a refusal.

    The input is checked before anything is written, and every refusal is audited,
    whatever the input (the audit log stores a printable, bounded form of it).
    """
    team = flux_object_team(obj)
    target = f"{obj.cluster.name}/{obj.namespace}/{obj.kind}/{obj.name}"

    def refuse(message: str, *, bad_input: bool = False, audited_action: str = action) -> NoReturn:
        audit_record(actor=user, team=team, action=f"flux.{audited_action}",
                     outcome="failed" if bad_input else "refused", target=target,
                     parameters={"reason": reason} if reason else {}, message=message)  # fmt: skip
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
            token=timezone.now().isoformat(timespec="microseconds"),
        )  # fmt: skip
        audit_record(
            actor=user,
            team=team,
            action=f"flux.{action}",
            outcome="requested",
            target=target,
            parameters={"reason": reason} if reason else {},
            correlation=str(flux_action.pk),
        )
        from apps.clusters.tasks import flux_action_run

        transaction.on_commit(lambda: flux_action_run.delay(flux_action.pk))
    return flux_action


def _source_path(cluster, obj: dict, namespace: str) -> str | None:
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
    kind, name = ref.get("kind"), ref.get("name")
    if kind not in kube.FLUX_PLURALS or not name:
        return None
    namespace = ref.get("namespace") or namespace
    row = FluxObject.objects.filter(cluster=cluster, kind=kind, namespace=namespace, name=name).first()
    api_version = ref.get("apiVersion") or (row.api_version if row else "")
    return kube.object_path(api_version, kind, namespace, name) if api_version else None


def reconcile_source(api, *, cluster, obj: dict, namespace: str, token: str) -> None:
    """Ask Flux to fetch the object's source first, so a reconcile sees the newest commit."""
    source = _source_path(cluster, obj, namespace)
    if source:
        kube.merge_patch(api, source, {"metadata": {"annotations": {REQUESTED_AT: token}}})


def _finish(flux_action: FluxAction, status: str, message: str) -> FluxAction:
    flux_action.status, flux_action.message, flux_action.finished_at = status, message[:2000], timezone.now()
    flux_action.save(update_fields=["status", "message", "finished_at"])
    audit_record(
        actor=flux_action.requested_by, team=flux_action.team, action=f"flux.{flux_action.action}",
        outcome={"succeeded": "succeeded", "failed": "failed", "timed_out": "timed out"}[status],
        target=flux_action.target, parameters={"reason": flux_action.reason} if flux_action.reason else {},
        message=message, correlation=str(flux_action.pk),
    )  # fmt: skip
    from apps.clusters.tasks import cluster_sync

    transaction.on_commit(lambda: cluster_sync.delay(flux_action.cluster_id))
    return flux_action


def flux_action_run(*, action_id: int, timeout: float | None = None) -> FluxAction | None:
    """Send the patch, wait for Flux where it acknowledges, and record the outcome."""
    flux_action = (
        FluxAction.objects.select_related("cluster", "requested_by", "team").filter(pk=action_id).first()
    )
    if flux_action is None or flux_action.done:
        return flux_action
    timeout = settings.SHIRUBE_RECONCILE_TIMEOUT if timeout is None else timeout
    path = kube.object_path(
        flux_action.api_version, flux_action.kind, flux_action.namespace, flux_action.name
    )
    who = flux_action.requested_by.username if flux_action.requested_by else "shirube"
    try:
        api = kube.api_client(flux_action.cluster)
        if flux_action.action == FluxAction.Kind.SUSPEND:
            kube.merge_patch(api, path, {
                "spec": {"suspend": True},
                "metadata": {"annotations": {SUSPENDED_BY: who, SUSPEND_REASON: flux_action.reason}},
            })  # fmt: skip
            return _finish(flux_action, FluxAction.Status.SUCCEEDED, f"Suspended by {who}.")
        patch: dict = {"metadata": {"annotations": {REQUESTED_AT: flux_action.token}}}
        if flux_action.action == FluxAction.Kind.RESUME:
            patch["spec"] = {"suspend": False}
            patch["metadata"]["annotations"].update({SUSPENDED_BY: None, SUSPEND_REASON: None})
        else:
            reconcile_source(api, cluster=flux_action.cluster, obj=kube.get_object(api, path),
                             namespace=flux_action.namespace, token=flux_action.token)  # fmt: skip
        kube.merge_patch(api, path, patch)
        flux_action.status = FluxAction.Status.WAITING
        flux_action.message = "Waiting for Flux to pick up the request."
        flux_action.save(update_fields=["status", "message"])
        deadline = time.monotonic() + timeout
        while True:
            status = kube.get_object(api, path).get("status") or {}
            if status.get("lastHandledReconcileAt") == flux_action.token:
                verb = (
                    "Resumed and reconciled" if flux_action.action == FluxAction.Kind.RESUME else "Reconciled"
                )
                return _finish(flux_action, FluxAction.Status.SUCCEEDED, f"{verb}.")
            if time.monotonic() >= deadline:
                return _finish(
                    flux_action, FluxAction.Status.TIMED_OUT,
                    f"Flux did not acknowledge the request within {int(timeout)} s; it may still do so.",
                )  # fmt: skip
            time.sleep(POLL_SECONDS)
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        # The page and the audit log (read by everyone) get the summary; the detail, which
        # can name hosts and ports, goes to the log for SREs.
        log.warning("Flux action %s (%s) failed: %s", flux_action.pk, flux_action.target, exc.detail)
        return _finish(flux_action, FluxAction.Status.FAILED, str(exc))

"""A Flux action's steps, one per task run (apps.core.stepping): send the patch, then look for Flux's answer.

queued -> (patch) -> waiting -> succeeded | timed out, or failed on an error. A
suspend is done once the patch is accepted; a reconcile or a resume waits until
Flux writes the request's token into `status.lastHandledReconcileAt`, looking every
POLL_SECONDS for at most SHIRUBE_RECONCILE_TIMEOUT. No step sleeps: between looks
the task is queued again with a countdown, like a deployment (environments.runner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from apps.audit.services import audit_record
from apps.clusters import kube
from apps.clusters.models import FluxAction, FluxObject
from apps.core.stepping import past, step_taken, steps_stalled

log = logging.getLogger(__name__)

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
SUSPENDED_BY = "shirube.io/suspended-by"
SUSPEND_REASON = "shirube.io/suspend-reason"
# Seconds between two looks at an object Flux has not acknowledged yet.
POLL_SECONDS = 2.0
Status = FluxAction.Status
_UNFINISHED = (Status.QUEUED, Status.WAITING)


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


def flux_reconcile_request(api, *, cluster, path: str, namespace: str, token: str) -> None:
    """Ask Flux to reconcile an object, its source first, so that it sees the newest commit.

    The token goes into `reconcile.fluxcd.io/requestedAt`; Flux copies it into
    `status.lastHandledReconcileAt` once it has handled the request.
    """
    request = {"metadata": {"annotations": {REQUESTED_AT: token}}}
    source = _source_path(cluster, kube.get_object(api, path), namespace)
    if source:
        kube.merge_patch(api, source, request)
    kube.merge_patch(api, path, request)


Finished = Callable[[FluxAction], None]


def flux_action_advance(*, action_id: int, finished: Finished | None = None) -> float | None:
    """Take one step; returns the seconds until the next one, or None when the action is finished.

    `finished` is called once, by the step that records the outcome (the task queues a
    sync with it, so that the pages show the result soon).
    """
    flux_action = (
        FluxAction.objects.select_related("cluster", "requested_by", "team").filter(pk=action_id).first()
    )
    if flux_action is None or flux_action.done:
        return None
    step_taken(FluxAction.objects.filter(pk=flux_action.pk))
    path = kube.object_path(
        flux_action.api_version, flux_action.kind, flux_action.namespace, flux_action.name
    )
    step = _step_queued if flux_action.status == Status.QUEUED else _step_waiting
    delay = step(flux_action, path)
    if delay is None and finished and flux_action.done:
        finished(flux_action)
    return delay


def _step_queued(flux_action: FluxAction, path: str) -> float | None:
    who = flux_action.requested_by.username if flux_action.requested_by else "shirube"
    try:
        api = kube.api_client(flux_action.cluster)
        if flux_action.action == FluxAction.Kind.SUSPEND:
            kube.merge_patch(api, path, {
                "spec": {"suspend": True},
                "metadata": {"annotations": {SUSPENDED_BY: who, SUSPEND_REASON: flux_action.reason}},
            })  # fmt: skip
            _finish(flux_action, Status.SUCCEEDED, f"Suspended by {who}.")
            return None
        if flux_action.action == FluxAction.Kind.RESUME:
            kube.merge_patch(api, path, {
                "spec": {"suspend": False},
                "metadata": {"annotations": {REQUESTED_AT: flux_action.token, SUSPENDED_BY: None,
                                             SUSPEND_REASON: None}},
            })  # fmt: skip
        else:
            flux_reconcile_request(api, cluster=flux_action.cluster, path=path,
                                   namespace=flux_action.namespace, token=flux_action.token)  # fmt: skip
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        _fail(flux_action, exc)
        return None
    # The deadline runs from here. A second chain (the watchdog's) may have sent the same
    # patch: it carries the same token, so Flux sees one request.
    FluxAction.objects.filter(pk=flux_action.pk, status=Status.QUEUED).update(
        status=Status.WAITING, step_started_at=timezone.now(),
        message="Waiting for Flux to pick up the request.",
    )  # fmt: skip
    return POLL_SECONDS


def _step_waiting(flux_action: FluxAction, path: str) -> float | None:
    timeout = settings.SHIRUBE_RECONCILE_TIMEOUT
    try:
        status = kube.get_object(kube.api_client(flux_action.cluster), path).get("status") or {}
    except (kube.KubeError, kube.ClusterUnreachable) as exc:
        # The request was sent; Flux may still handle it. Look again until the deadline.
        log.warning("Flux action %s (%s): could not look: %s", flux_action.pk, flux_action.target, exc.detail)
        status, error = {}, str(exc)
    else:
        error = ""
    if status.get("lastHandledReconcileAt") == flux_action.token:
        verb = "Resumed and reconciled" if flux_action.action == FluxAction.Kind.RESUME else "Reconciled"
        _finish(flux_action, Status.SUCCEEDED, f"{verb}.")
        return None
    if past(flux_action.step_started_at or flux_action.requested_at, timeout):
        why = f" (the last look failed: {error})" if error else ""
        message = f"Flux did not acknowledge the request within {timeout} s; it may still do so{why}."
        _finish(flux_action, Status.TIMED_OUT, message)
        return None
    return POLL_SECONDS


def _fail(flux_action: FluxAction, exc: kube.KubeError | kube.ClusterUnreachable) -> None:
    # The page and the audit log (read by everyone) get the summary; the detail, which
    # can name hosts and ports, goes to the log for SREs.
    log.warning("Flux action %s (%s) failed: %s", flux_action.pk, flux_action.target, exc.detail)
    _finish(flux_action, Status.FAILED, str(exc))


def _finish(flux_action: FluxAction, status: str, message: str) -> None:
    """Record the outcome once: of two chains stepping one action, only the first to finish audits it."""
    now = timezone.now()
    finished = FluxAction.objects.filter(pk=flux_action.pk, status__in=_UNFINISHED).update(
        status=status, message=message[:2000], finished_at=now
    )
    if not finished:
        return
    flux_action.status, flux_action.message, flux_action.finished_at = status, message[:2000], now
    audit_record(
        actor=flux_action.requested_by, team=flux_action.team, action=f"flux.{flux_action.action}",
        outcome={"succeeded": "succeeded", "failed": "failed", "timed_out": "timed out"}[status],
        target=flux_action.target, parameters={"reason": flux_action.reason} if flux_action.reason else {},
        message=message, correlation=str(flux_action.pk), channel=flux_action.channel,
    )  # fmt: skip


def flux_actions_stalled() -> list[int]:
    """Unfinished Flux actions whose task chain was lost (see apps.core.stepping)."""
    unfinished = FluxAction.objects.filter(status__in=_UNFINISHED)
    return list(steps_stalled(unfinished, poll_seconds=POLL_SECONDS).values_list("pk", flat=True))

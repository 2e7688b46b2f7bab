"""Sync one cluster: list every kind, diff against the database, write only what changed.

Each kind is written in its own transaction, so a kind is either wholly from
the last good sync or wholly from this one. A kind that fails (403, 404, 500,
timeout) keeps its last good rows and records its error; a cluster that does
not answer keeps everything and is marked stale.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.clusters import kube, reduce
from apps.clusters.models import (
    Cluster,
    FluxObject,
    Namespace,
    Pod,
    PodDisruptionBudget,
    ServiceAccount,
    SyncLock,
    SyncRun,
    WarningEvent,
    Workload,
)
from apps.clusters.ownership import namespaces_assign_teams
from apps.clusters.problems import classify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KindPlan:
    spec: kube.KindSpec
    model: type
    reducer: Callable[[dict], dict]
    kind_filter: str = ""  # Workload rows are shared by several kinds


_SPECS = {spec.key: spec for spec in kube.KINDS}
_WORKLOAD_KINDS = ("deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs")
# In this order: ReplicaSets and Jobs before pods, which resolve their workload through them.
PLANS = [
    KindPlan(kube.NAMESPACES, Namespace, reduce.namespace),
    *[
        KindPlan(_SPECS[key], Workload, reduce.workload, kind_filter=_SPECS[key].kind)
        for key in _WORKLOAD_KINDS
    ],
    KindPlan(_SPECS["pods"], Pod, reduce.pod),
    KindPlan(_SPECS["serviceaccounts"], ServiceAccount, reduce.service_account),
    KindPlan(_SPECS["poddisruptionbudgets"], PodDisruptionBudget, reduce.pdb),
    KindPlan(_SPECS["events"], WarningEvent, reduce.warning_event),
]


class LockHeld(Exception):
    pass


@dataclass
class KindResult:
    status: str = "ok"
    error: str = ""
    seen: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    ms: int = 0


@dataclass
class SyncResult:
    run: SyncRun
    kinds: dict[str, KindResult] = field(default_factory=dict)


# --- locking ----------------------------------------------------------------


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def cluster_lock(cluster_id: int):
    """Hold the sync lock for a cluster or raise LockHeld; Redis when configured, else a row."""
    ttl = settings.SHIRUBE_SYNC_LOCK_TTL
    holder = _holder()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        lock = client.lock(f"shirube:sync-lock:{cluster_id}", timeout=ttl, blocking=False)
        if not lock.acquire(token=holder):
            raise LockHeld()
        try:
            yield holder
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("sync lock for cluster %s expired before the sync ended", cluster_id)
        return
    now = timezone.now()
    with transaction.atomic():
        SyncLock.objects.get_or_create(cluster_id=cluster_id)
        row = SyncLock.objects.select_for_update().get(cluster_id=cluster_id)
        if row.holder and row.expires_at and row.expires_at > now:
            raise LockHeld()
        row.holder, row.expires_at = holder, now + timedelta(seconds=ttl)
        row.save()
    try:
        yield holder
    finally:
        SyncLock.objects.filter(cluster_id=cluster_id, holder=holder).update(holder="", expires_at=None)


# --- diff and write ----------------------------------------------------------

_FIELDS_CACHE: dict[type, list[str]] = {}


def _fields(model: type) -> list[str]:
    if model not in _FIELDS_CACHE:
        _FIELDS_CACHE[model] = [
            f.name for f in model._meta.concrete_fields
            if f.name not in {"id", "cluster", "team", "conflict"}
        ]  # fmt: skip
    return _FIELDS_CACHE[model]


_UNCHANGED = "_unchanged"


def _scope(cluster: Cluster, plan: KindPlan):
    """The rows of one kind in one cluster (Workload and FluxObject rows hold several kinds)."""
    scope = plan.model.objects.filter(cluster=cluster)
    return scope.filter(kind=plan.kind_filter) if plan.kind_filter else scope


def _skip_unchanged(cluster: Cluster, plan: KindPlan, transform: Callable[[dict], dict]):
    """Wrap a reducer so objects whose resourceVersion we already hold are not reduced again."""
    known = dict(_scope(cluster, plan).values_list("uid", "resource_version"))

    def wrapped(obj: dict) -> dict:
        meta = obj.get("metadata") or {}
        uid, rv = meta.get("uid", ""), meta.get("resourceVersion", "")
        if uid and known.get(uid) == rv:
            return {"uid": uid, "resource_version": rv, _UNCHANGED: True}
        return transform(obj)

    return wrapped


def _write_kind(cluster: Cluster, plan: KindPlan, rows: list[dict], result: KindResult) -> None:
    model = plan.model
    scope = _scope(cluster, plan)
    fields = _fields(model)
    with transaction.atomic():
        existing = {uid: (pk, rv) for pk, uid, rv in scope.values_list("pk", "uid", "resource_version")}
        seen: set[str] = set()
        to_create, to_update = [], []
        for row in rows:
            uid = row["uid"]
            if not uid or uid in seen:
                continue
            seen.add(uid)
            if row.get(_UNCHANGED):
                continue
            current = existing.get(uid)
            if current is None:
                to_create.append(model(cluster=cluster, **row))
            elif current[1] != row["resource_version"]:
                to_update.append(model(pk=current[0], cluster=cluster, **row))
        gone = [pk for uid, (pk, _) in existing.items() if uid not in seen]
        if to_create:
            rows_insert(model, to_create)
        if to_update:
            model.objects.bulk_update(to_update, [f for f in fields if f != "uid"], batch_size=500)
        if gone:
            for start in range(0, len(gone), 5000):
                model.objects.filter(pk__in=gone[start : start + 5000]).delete()
    result.seen, result.created = len(seen), len(to_create)
    result.updated, result.deleted = len(to_update), len(gone)


def rows_insert(model: type, instances: list) -> None:
    """Insert new rows: COPY on PostgreSQL (a first sync writes tens of thousands), else bulk_create.

    No pre_save hooks run (auto_now fields stay as given); Django 5.2's bulk_create on
    PostgreSQL spends seconds escaping JSON values into arrays at this size.
    """
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances, batch_size=500)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in instances:
            copy.write_row([f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields])


def _pod_transform(owners: dict[str, dict]) -> Callable[[dict], dict]:
    """Reduce a pod and resolve its top-level workload through ReplicaSets and Jobs."""

    def transform(obj: dict) -> dict:
        row = reduce.pod(obj)
        owner = row["owner"]
        top = owners.get(owner.get("uid", "")) if owner else None
        if top:
            row["workload_kind"], row["workload_name"] = top["kind"], top["name"]
        elif owner:
            row["workload_kind"], row["workload_name"] = (
                owner.get("kind", ""),
                owner.get("name", ""),
            )
        else:
            row["workload_kind"], row["workload_name"] = "", ""
        row["problem"] = classify(row)
        return row

    return transform


def _owner_map(cluster: Cluster) -> dict[str, dict]:
    """ReplicaSet/Job uid -> its controller (Deployment/CronJob).

    Read from the database: this sync wrote ReplicaSets and Jobs before pods,
    and if those kinds failed, their last good rows are still right.
    """
    mapping: dict[str, dict] = {}
    rows = Workload.objects.filter(cluster=cluster, kind__in=["ReplicaSet", "Job"]).values_list(
        "uid", "owner"
    )
    for uid, owner in rows:
        if owner.get("kind") in {"Deployment", "CronJob"}:
            mapping[uid] = owner
    return mapping


def cluster_sync(*, cluster: Cluster, worker: str = "") -> SyncResult:
    """Run one sync of a cluster; raises LockHeld when another sync is running."""
    with cluster_lock(cluster.pk):
        SyncRun.objects.filter(cluster=cluster, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.ABANDONED, finished_at=timezone.now(),
            error="The worker running this sync stopped before it finished.",
        )  # fmt: skip
        run = SyncRun.objects.create(cluster=cluster, worker=worker or _holder())
        result = _sync_locked(cluster, run)
    _readiness_queue(cluster, result)
    return result


def _readiness_queue(cluster: Cluster, result: SyncResult) -> None:
    """Queue the readiness recompute once the sync's writes are committed.

    A task rather than a direct call: the rules read the whole cluster, and a
    failure there must neither hold the sync lock longer nor mark the sync failed.
    """
    run = result.run
    if not (run.created or run.updated or run.deleted):
        return  # nothing changed: the findings stand (the hourly snapshot re-evaluates anyway)
    from apps.readiness.tasks import readiness_recompute

    transaction.on_commit(lambda: readiness_recompute.delay(cluster.pk))


def _sync_locked(cluster: Cluster, run: SyncRun) -> SyncResult:
    started = time.monotonic()
    result = SyncResult(run)
    unreachable = ""
    try:
        api = kube.api_client(cluster)
        for plan in PLANS:
            _sync_kind(cluster, api, plan, result)
        _sync_flux(cluster, api, result)
    except kube.ClusterUnreachable as exc:
        unreachable = str(exc)[:1000] or "the cluster did not answer"
    except SoftTimeLimitExceeded:
        unreachable = "stopped by the time limit before every kind was synced"
    finally:
        _finish(cluster, run, result, unreachable, started)
    return result


def _sync_kind(cluster: Cluster, api, plan: KindPlan, result: SyncResult) -> None:
    key = plan.spec.key
    kind_result = result.kinds[key] = KindResult()
    started = time.monotonic()
    try:
        transform = _pod_transform(_owner_map(cluster)) if key == "pods" else plan.reducer
        transform = _skip_unchanged(cluster, plan, transform)
        rows = kube.list_objects(api, plan.spec, transform=transform)
        _write_kind(cluster, plan, rows, kind_result)
        if key == "namespaces":
            namespaces_assign_teams(cluster=cluster)
    except kube.KubeError as exc:
        kind_result.status, kind_result.error = "error", str(exc)[:1000]
    except kube.ClusterUnreachable:
        del result.kinds[key]
        raise
    finally:
        kind_result.ms = int((time.monotonic() - started) * 1000)


def _sync_flux(cluster: Cluster, api, result: SyncResult) -> None:
    """Flux kinds, at the versions the cluster serves; a cluster without Flux is fine."""
    try:
        specs = kube.discover_flux(api)
    except kube.KubeError as exc:
        result.kinds["flux discovery"] = KindResult(status="error", error=str(exc)[:1000])
        return
    for spec in specs:
        _sync_kind(
            cluster, api, KindPlan(spec, FluxObject, reduce.flux_object, kind_filter=spec.kind), result
        )
    served = {spec.kind for spec in specs}
    gone = FluxObject.objects.filter(cluster=cluster).exclude(kind__in=served)
    if gone.exists():  # Flux, or one of its kinds, was removed from the cluster
        with transaction.atomic():
            gone.delete()


def _finish(cluster: Cluster, run: SyncRun, result: SyncResult, unreachable: str, started: float) -> None:
    now = timezone.now()
    kinds = {
        key: {k: v for k, v in vars(kind).items()} for key, kind in result.kinds.items()
    }  # fmt: skip
    errors = {key: kind.error for key, kind in result.kinds.items() if kind.status == "error"}
    if unreachable:
        status = SyncRun.Status.FAILED
    elif errors:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.OK
    SyncRun.objects.filter(pk=run.pk).update(
        status=status,
        finished_at=now,
        duration_ms=int((time.monotonic() - started) * 1000),
        seen=sum(k.seen for k in result.kinds.values()),
        created=sum(k.created for k in result.kinds.values()),
        updated=sum(k.updated for k in result.kinds.values()),
        deleted=sum(k.deleted for k in result.kinds.values()),
        kinds=kinds,
        error=unreachable,
    )
    run.refresh_from_db()
    update = {"last_sync_at": now, "last_error": unreachable}
    if not unreachable:
        update["last_success_at"] = now
        update["kind_errors"] = errors
    Cluster.objects.filter(pk=cluster.pk).update(**update)
    for key, value in update.items():
        setattr(cluster, key, value)


def sync_runs_prune(*, days: int) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = SyncRun.objects.filter(started_at__lt=cutoff).exclude(status=SyncRun.Status.RUNNING).delete()
    WarningEvent.objects.filter(last_seen__lt=cutoff).delete()
    return deleted

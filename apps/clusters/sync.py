"""Sync one cluster: list every kind, diff against the database, write only what changed.

Each kind is written in its own transaction, so a kind is either wholly from
the last good sync or wholly from this one. A kind that fails (403, 404, 500,
timeout) keeps its last good rows and records its error; a cluster that does
not answer keeps everything and is marked stale. One malformed object is
skipped and counted, never its kind; any other error is its kind's error (or
the run's, when it is no one kind's) and fails the run, which is never "ok".
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
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, models, transaction
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
from apps.clusters.signals import cluster_snapshot_changed
from apps.clusters.typed_reads import Malformed, clean_text
from apps.core.rows import rows_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KindPlan:
    spec: kube.KindSpec
    model: type
    reducer: Callable[[dict], dict]
    kind_filter: str = ""  # Workload rows are shared by several kinds


_SPECS = {spec.key: spec for spec in kube.KINDS}
# In this order: ReplicaSets and Jobs before pods, which resolve their workload through them.
PLANS = [
    KindPlan(kube.NAMESPACES, Namespace, reduce.namespace),
    *[
        KindPlan(spec, Workload, reduce.workload, kind_filter=spec.kind)
        for spec in kube.KINDS
        if spec.kind in Workload.KINDS
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
    error: str = ""  # the detail, for SREs and the log
    summary: str = ""  # what pages show (no hosts, ports or server text)
    internal: bool = False  # not the cluster's answer but our own failure: the run fails
    seen: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0  # malformed objects left out (their last good rows, if any, are kept)
    skipped_objects: list[str] = field(default_factory=list)  # which, and why (the first few)
    ms: int = 0

    def fail(self, exc: Exception) -> None:
        self.status = "error"
        if isinstance(exc, (kube.KubeError, kube.ClusterUnreachable)):
            self.summary, self.error = str(exc), exc.detail
        else:
            self.internal = True
            self.summary = INTERNAL_ERROR
            self.error = f"internal error: {type(exc).__name__}: {exc}"
        self.summary, self.error = _storable(self.summary, 300), _storable(self.error, 1000)

    def skip(self, what: str) -> None:
        self.skipped += 1
        if len(self.skipped_objects) < SKIPPED_SHOWN:
            self.skipped_objects.append(_storable(what, 300))


INTERNAL_ERROR = "an internal error in the portal's sync (SREs can see the details)"
SKIPPED_SHOWN = 20


def _storable(text: str, limit: int) -> str:
    """Text for a database column and a page: NUL bytes, control characters and lone surrogates
    shown escaped (an SRE should see that a name held a NUL), then cut."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return clean_text(text)[:limit]


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


def _object_reader(
    cluster: Cluster, plan: KindPlan, transform: Callable[[dict], dict], kind_result: KindResult
) -> Callable[[object], dict | None]:
    """Reduce each listed object to a row, or skip it; one object never fails its kind.

    An object whose resourceVersion we already hold is not reduced again. A
    malformed one (Malformed from the reducers, a value the table cannot hold, or
    any error reducing it) is counted and described for SREs; when its uid is
    usable, its last good row stays, otherwise it is left out.
    """
    known = dict(_scope(cluster, plan).values_list("uid", "resource_version"))
    check = _row_checker(plan.model)

    def read(obj: object) -> dict | None:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        if isinstance(uid, str) and uid and known.get(uid) == rv:
            return {"uid": uid, "resource_version": rv, _UNCHANGED: True}
        try:
            row = transform(obj) if isinstance(obj, dict) else None
            if row is None:
                raise Malformed("an item that is not an object")
            check(row)
            return row
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            if not isinstance(exc, Malformed):
                log.warning("sync of %s: could not reduce a %s", cluster.name, plan.spec.kind, exc_info=True)
            reason = str(exc) if isinstance(exc, Malformed) else f"could not be read ({type(exc).__name__})"
            kind_result.skip(f"{_identify(meta)}: {reason}")
        if isinstance(uid, str) and uid in known:
            return {"uid": uid, "resource_version": known[uid], _UNCHANGED: True}  # keep its last good row
        return None

    return read


def _identify(meta: dict) -> str:
    parts = [meta.get("namespace"), meta.get("name")]
    return "/".join(p for p in parts if isinstance(p, str) and p) or f"(no name, uid {meta.get('uid')!r})"


_CHECKERS: dict[type, Callable[[dict], None]] = {}


def _row_checker(model: type) -> Callable[[dict], None]:
    """A check that a row fits its table (type, length, range), so one row never fails a kind's write.

    The reducers type every value they read; this is the net under them, kept to
    the plain columns (JSON columns hold what the typed reads built).
    """
    if model in _CHECKERS:
        return _CHECKERS[model]
    checks: list[tuple[str, Callable[[object], bool], str]] = []
    for f in model._meta.concrete_fields:
        if f.name in {"id", "cluster", "team", "conflict"} or isinstance(f, models.JSONField):
            continue
        if isinstance(f, (models.CharField, models.TextField)):
            limit = getattr(f, "max_length", None) or 10**9

            def ok(value, limit=limit):
                return isinstance(value, str) and len(value) <= limit and "\x00" not in value

            checks.append((f.name, ok, f"text of at most {limit} characters"))
        elif isinstance(f, models.IntegerField):
            low, high = connection.ops.integer_field_range(f.get_internal_type())
            low, high = low if low is not None else -(2**63), high if high is not None else 2**63 - 1

            def ok(value, low=low, high=high, null=f.null):
                if value is None:
                    return null
                return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

            checks.append((f.name, ok, f"a whole number from {low} to {high}"))
        elif isinstance(f, models.BooleanField):
            checks.append((f.name, lambda value: isinstance(value, bool), "true or false"))
        elif isinstance(f, models.DateTimeField):
            checks.append((f.name, lambda value: value is None or isinstance(value, datetime), "a time"))

    def check(row: dict) -> None:
        for name, ok, expected in checks:
            if name in row and not ok(row[name]):
                raise Malformed(f"{name} is not {expected}")

    _CHECKERS[model] = check
    return check


def _write_kind(cluster: Cluster, plan: KindPlan, rows: list[dict | None], result: KindResult) -> None:
    wanted: dict[tuple, dict | None] = {}
    for row in rows:
        if row is None or not row["uid"]:  # a malformed object without a usable uid: skipped
            continue
        # The first of two objects with one uid wins; a row we already hold stays as it is.
        wanted.setdefault((row["uid"],), None if row.get(_UNCHANGED) else row)
    with transaction.atomic():
        written = rows_write(
            scope=_scope(cluster, plan), key=["uid"], wanted=wanted, compare=["resource_version"],
            write=[f for f in _fields(plan.model) if f != "uid"], fixed={"cluster": cluster},
        )  # fmt: skip
    result.seen, result.created = len(wanted), written.created
    result.updated, result.deleted = written.updated, written.deleted


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
    _changed_tell(cluster, result.run)
    return result


def _changed_tell(cluster: Cluster, run: SyncRun) -> None:
    """Tell the apps above that this cluster's snapshot changed (readiness re-checks it).

    A signal because those apps sit on higher floors (CONVENTIONS.md); nothing is sent
    when nothing changed. Their failures are logged, never the sync's.
    """
    if not (run.created or run.updated or run.deleted):
        return
    for receiver, outcome in cluster_snapshot_changed.send_robust(sender=Cluster, cluster=cluster, run=run):
        if isinstance(outcome, Exception):
            log.error("after the sync of %s, %r failed", cluster.name, receiver, exc_info=outcome)


@dataclass
class RunFailure:
    """Why a run stopped before every kind was synced: a summary for pages, the detail for SREs."""

    summary: str
    detail: str


def _sync_locked(cluster: Cluster, run: SyncRun) -> SyncResult:
    started = time.monotonic()
    result = SyncResult(run)
    failure = None
    try:
        api = kube.api_client(cluster)
        for plan in PLANS:
            _sync_kind(cluster, api, plan, result)
        _sync_flux(cluster, api, result)
    except kube.ClusterUnreachable as exc:
        failure = RunFailure(str(exc), exc.detail)
    except SoftTimeLimitExceeded:
        stopped = "stopped by the time limit before every kind was synced"
        failure = RunFailure(stopped, stopped)
    except Exception as exc:
        # No one kind's: a defect, or the database going away between kinds. The run is
        # failed, whatever was written before it stays, and the worker lives on.
        log.exception("sync of %s stopped on an unexpected error", cluster.name)
        failure = RunFailure(INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        _finish(cluster, run, result, failure, started)
    return result


def _sync_kind(cluster: Cluster, api, plan: KindPlan, result: SyncResult) -> None:
    key = plan.spec.key
    kind_result = result.kinds[key] = KindResult()
    started = time.monotonic()
    try:
        transform = _pod_transform(_owner_map(cluster)) if key == "pods" else plan.reducer
        read = _object_reader(cluster, plan, transform, kind_result)
        rows = kube.list_objects(api, plan.spec, transform=read)
        _write_kind(cluster, plan, rows, kind_result)
        if key == "namespaces":
            namespaces_assign_teams(cluster=cluster)
    except kube.KubeError as exc:
        kind_result.fail(exc)
    except (kube.ClusterUnreachable, SoftTimeLimitExceeded):
        del result.kinds[key]
        raise
    except Exception as exc:
        # Anything else (the database refusing the write, a defect) is this kind's error:
        # its last good rows stay, the other kinds still sync, and the run is failed.
        log.exception("sync of %s: %s failed", cluster.name, key)
        kind_result.fail(exc)
    finally:
        kind_result.ms = int((time.monotonic() - started) * 1000)


def _sync_flux(cluster: Cluster, api, result: SyncResult) -> None:
    """Flux kinds, at the versions the cluster serves; a cluster without Flux is fine."""
    try:
        specs = kube.discover_flux(api)
    except kube.ClusterUnreachable:
        raise
    except Exception as exc:
        if not isinstance(exc, kube.KubeError):
            log.exception("sync of %s: Flux discovery failed", cluster.name)
        result.kinds["flux discovery"] = discovery = KindResult()
        discovery.fail(exc)
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


def _finish(
    cluster: Cluster, run: SyncRun, result: SyncResult, failure: RunFailure | None, started: float
) -> None:
    now = timezone.now()
    kinds = {key: dict(vars(kind)) for key, kind in result.kinds.items()}
    failed = {key: kind for key, kind in result.kinds.items() if kind.status == "error"}
    if failure or any(kind.internal for kind in failed.values()):
        status = SyncRun.Status.FAILED
    elif failed:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.OK
    detail = _storable(failure.detail, 1000) if failure else ""
    SyncRun.objects.filter(pk=run.pk).update(
        status=status,
        finished_at=now,
        duration_ms=int((time.monotonic() - started) * 1000),
        seen=sum(k.seen for k in result.kinds.values()),
        created=sum(k.created for k in result.kinds.values()),
        updated=sum(k.updated for k in result.kinds.values()),
        deleted=sum(k.deleted for k in result.kinds.values()),
        skipped=sum(k.skipped for k in result.kinds.values()),
        kinds=kinds,
        error=detail,
    )
    run.refresh_from_db()
    # Pages read the summaries; SREs also see the details (the admin, and the pages for SREs).
    update = {
        "last_sync_at": now,
        "last_error": _storable(failure.summary, 300) if failure else "",
        "last_error_detail": detail,
    }
    if not failure:
        update["last_success_at"] = now
        update["kind_errors"] = {key: kind.summary for key, kind in failed.items()}
        update["kind_error_details"] = {key: kind.error for key, kind in failed.items()}
        update["skipped_objects"] = {
            key: {"count": kind.skipped, "objects": kind.skipped_objects}
            for key, kind in result.kinds.items()
            if kind.skipped
        }
    Cluster.objects.filter(pk=cluster.pk).update(**update)
    for key, value in update.items():
        setattr(cluster, key, value)


def sync_runs_prune(*, days: int) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = SyncRun.objects.filter(started_at__lt=cutoff).exclude(status=SyncRun.Status.RUNNING).delete()
    WarningEvent.objects.filter(last_seen__lt=cutoff).delete()
    return deleted

"""Watch sessions: list once, then watch every kind of a cluster and write what changes within a second.

A session runs inside one Celery task (apps.clusters.tasks.cluster_watch, queue `watch`)
for at most SHIRUBE_WATCH_SESSION_SECONDS, then ends and queues the next, which resumes
from the resourceVersions this one stored; a deploy or a worker restart loses nothing.

- It holds the cluster's lock (the one full syncs take) and beats it from a thread of its
  own; a session whose worker died stops beating, its lock expires after
  SHIRUBE_WATCH_LOCK_TTL, and the session beat queues next takes it over.
- Threads, not asyncio: one per kind reads that kind's watch (the official client and
  urllib3 block), and hands events to the session's own thread, the only one that touches
  the database. A session costs one database connection and 1 + kinds threads, mostly
  asleep in a socket read.
- Events for the same object within SHIRUBE_WATCH_COALESCE_MS become one write; each
  kind's changes are one transaction together with the kind's resourceVersion, so the
  stored version never runs ahead of the rows.
- A kind starts from its stored resourceVersion, or from a fresh list (diffed as a full sync
  does) when it has none, when the version is too old (410 Gone, an HTTP status or an ERROR
  event in the stream), and for every kind every SHIRUBE_RESYNC_INTERVAL (the safety net).
- One malformed object costs only itself (the reducers and checks of apps.clusters.sync);
  a kind whose watch fails (403, 500, a dropped connection) keeps its last good rows, shows
  its error, and is retried with a backoff and jitter while the other kinds go on.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.clusters import kube, sync
from apps.clusters.models import Cluster, Pod, SyncRun
from apps.clusters.ownership import namespaces_assign_teams
from apps.core.rows import rows_change

log = logging.getLogger(__name__)

# Set when the worker is shutting down (apps.clusters.tasks): every session ends within a
# second, storing what it read, and queues its successor for another worker.
SHUTDOWN = threading.Event()

# Objects held for the next write at most; past it the batch is written at once, so a burst
# costs bounded memory. The queue between the watch threads and the writer is bounded too:
# a full queue makes the watch threads wait, and the API server holds the rest.
MAX_BATCH = 5000
QUEUE_SIZE = 20_000
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0


@dataclass
class SessionResult:
    run: SyncRun
    kinds: dict[str, sync.KindResult] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)  # kinds listed in full by this session
    writes: int = 0  # batches written
    events: int = 0  # watch events read (bookmarks not counted)
    peak_batch: int = 0  # the most objects held for one write
    ended: str = ""  # why it ended: time, shutdown, lock lost, unreachable, stopped


@dataclass
class _Relist:
    plan: sync.KindPlan
    reply: queue.Queue


class _Session:
    def __init__(
        self, cluster: Cluster, run: SyncRun, lock: sync.ClusterLock, seconds: float, asked: threading.Event
    ) -> None:
        self.cluster, self.run, self.lock, self.asked = cluster, run, lock, asked
        self.result = SessionResult(run)
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.stopping = threading.Event()
        self.events: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.versions: dict[str, str] = dict(cluster.resource_versions or {})
        self.pending_versions: dict[str, str] = {}  # read (bookmarks) but not yet stored
        self.kind_errors: dict[str, kube.KubeError] = {}
        # The cluster did not answer (every watch fails alike), or the session failed on its own.
        self.unreachable: kube.ClusterUnreachable | None = None
        self.failure: str = ""
        self.plans: list[sync.KindPlan] = []
        self._responses: set = set()
        self._responses_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- threads ---------------------------------------------------------------

    def opened(self, response) -> None:
        with self._responses_lock:
            if self.stopping.is_set():
                kube.watch_close(response)
            self._responses.add(response)

    def closed(self, response) -> None:
        with self._responses_lock:
            self._responses.discard(response)

    def stop(self) -> None:
        self.stopping.set()
        with self._responses_lock:
            responses = list(self._responses)
        for response in responses:
            kube.watch_close(response)

    def ending(self) -> bool:
        """Whether the session must end now (asked to, the worker shutting down, the lock lost)."""
        for reason, event in (("stopped", self.asked), ("shutdown", SHUTDOWN), ("stopped", self.stopping)):
            if event.is_set():
                self.result.ended = self.result.ended or reason
                return True
        return False

    def put(self, item) -> bool:
        """Hand an item to the writer, waiting while its queue is full; False once stopping."""
        while not self.stopping.is_set():
            try:
                self.events.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def start_thread(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)


def watch_session(
    *, cluster: Cluster, seconds: float | None = None, worker: str = "", stop: threading.Event | None = None
) -> SessionResult:
    """Watch a cluster for a while (SHIRUBE_WATCH_SESSION_SECONDS, or until `stop` is set); raises
    sync.LockHeld when another sync or session holds the cluster."""
    seconds = seconds or settings.SHIRUBE_WATCH_SESSION_SECONDS
    with sync.cluster_lock(cluster.pk, ttl=settings.SHIRUBE_WATCH_LOCK_TTL) as lock:
        SyncRun.objects.filter(cluster=cluster, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.ABANDONED, finished_at=timezone.now(),
            error="The worker running this sync stopped before it finished.",
        )  # fmt: skip
        run = SyncRun.objects.create(cluster=cluster, worker=worker or lock.holder, watch=True)
        session = _Session(cluster, run, lock, _bounded(cluster, seconds), stop or threading.Event())
        session.start_thread(_beat, "watch-lock", session)
        try:
            _run(session)
        finally:
            session.stop()
            session.join()
            _finish(session)
    return session.result


def _bounded(cluster: Cluster, seconds: float) -> float:
    """A session ends by the time the next full resync is due, so that the next session runs it."""
    if cluster.last_full_sync_at is None:
        return seconds
    due = cluster.last_full_sync_at.timestamp() + settings.SHIRUBE_RESYNC_INTERVAL - time.time()
    return max(min(seconds, due), min(seconds, 30.0)) if due > 0 else seconds


def _beat(session: _Session) -> None:
    """Keep the lock while the session lives; a lost lock stops the session at once."""
    try:
        while not session.stopping.wait(session.lock.ttl / 3):
            try:
                kept = session.lock.beat()
            except Exception:  # Redis or the database away for a moment: the next beat tries again
                log.warning("watch of %s could not beat its lock", session.cluster.name, exc_info=True)
                continue
            if not kept:
                log.warning("watch of %s lost its lock: another session took over", session.cluster.name)
                session.result.ended = session.result.ended or "lock lost"
                session.stop()
    finally:
        connection.close()  # the database lock beats from this thread's own connection


def _run(session: _Session) -> None:
    cluster = session.cluster
    try:
        # One connection per watched kind, and one for the lists meanwhile.
        api = kube.api_client(cluster, connections=len(sync.PLANS) + len(kube.FLUX_PLURALS) + 2)
        resync = cluster.last_full_sync_at is None or (
            (timezone.now() - cluster.last_full_sync_at).total_seconds() >= settings.SHIRUBE_RESYNC_INTERVAL
        )
        flux = sync.flux_plans(cluster, api, _Listed(session))
        session.plans = [*sync.PLANS, *(flux or [])]
        changed = False
        for plan in session.plans:
            if session.ending():
                break
            if resync or not session.versions.get(plan.spec.key):
                changed = bool(_relist(session, api, plan, tell=False)[1]) or changed
        if changed:
            # Once for every kind listed: a first session lists 18 kinds, and each telling
            # would recompute the whole cluster's readiness again.
            _changed(session, None)
        if session.ending():
            return
        if (
            resync
            and flux is not None
            and not any(k.status == "error" for k in session.result.kinds.values())
        ):
            Cluster.objects.filter(pk=cluster.pk).update(last_full_sync_at=timezone.now())
        for plan in session.plans:
            session.start_thread(_watch_kind, f"watch-{plan.spec.key}", session, api, plan)
        _write_loop(session, api)
    except kube.ClusterUnreachable as exc:
        session.result.ended = "unreachable"
        session.unreachable = exc
    except Exception as exc:
        # No one kind's: a defect, or the database going away. What was written stays.
        log.exception("watch of %s stopped on an unexpected error", cluster.name)
        session.result.ended = "failed"
        session.failure = f"internal error: {type(exc).__name__}: {exc}"


class _Listed(sync.SyncResult):
    """Where sync's list functions record their kind results (merged into the session's)."""

    def __init__(self, session: _Session) -> None:
        super().__init__(session.run, {})


def _relist(session: _Session, api, plan: sync.KindPlan, *, tell: bool = True) -> tuple[str, bool]:
    """List a kind in full, diff and write it as a full sync does: its new resourceVersion ("" on
    failure), and whether rows changed (told to the other apps and pages unless `tell` is off)."""
    key = plan.spec.key
    result = _Listed(session)
    sync.sync_kind(session.cluster, api, plan, result)
    kind = result.kinds[key]
    session.result.listed.append(key)
    _merge(session.result.kinds.setdefault(key, sync.KindResult()), kind)
    if kind.status == "error":
        session.kind_errors[key] = kube.KubeError(kind.summary, detail=kind.error)
        return "", False
    session.kind_errors.pop(key, None)
    session.versions[key] = kind.resource_version
    Cluster.objects.filter(pk=session.cluster.pk).update(resource_versions=session.versions)
    changed = bool(kind.created or kind.updated or kind.deleted)
    if changed:
        if key == "namespaces":
            namespaces_assign_teams(cluster=session.cluster)
        if tell:
            _changed(session, None)
    return kind.resource_version, changed


def _merge(into: sync.KindResult, kind: sync.KindResult) -> None:
    into.seen += kind.seen
    into.created, into.updated, into.deleted = (
        into.created + kind.created, into.updated + kind.updated, into.deleted + kind.deleted,
    )  # fmt: skip
    for what in kind.skipped_objects:
        into.skip(what)
    into.skipped += kind.skipped - len(kind.skipped_objects)
    into.ms += kind.ms
    if kind.status == "error":
        into.status, into.error, into.summary = "error", kind.error, kind.summary
        into.internal = kind.internal


def _watch_kind(session: _Session, api, plan: sync.KindPlan) -> None:
    """One kind's watch, resumed after every end, until the session stops (runs in its own thread)."""
    key = plan.spec.key
    version = session.versions.get(key, "")
    failures, delay = 0, BACKOFF_FIRST
    while not session.stopping.is_set():
        remaining = session.deadline - time.monotonic()
        if remaining < 1:
            return
        if not version:
            version = _ask_relist(session, plan)
            if not version:
                session.stopping.wait(_jitter(delay))
                delay = min(delay * 2, BACKOFF_MAX)
                continue
        response = None

        def opened(r):
            nonlocal response
            response = r
            session.opened(r)

        try:
            seconds = max(1, int(remaining))
            events = kube.watch_objects(
                api, plan.spec, resource_version=version, timeout_seconds=seconds, opened=opened
            )
            for event in events:
                if failures:  # it answers again
                    failures, delay = 0, BACKOFF_FIRST
                    session.put(("ok", plan, None))
                if event.resource_version:
                    version = event.resource_version
                if not session.put(("event", plan, event)):
                    return
            if failures:  # opened and ended without an event: it answers again all the same
                failures, delay = 0, BACKOFF_FIRST
                session.put(("ok", plan, None))
        except kube.WatchExpired:
            version = ""  # too old: a fresh list of this kind, then a watch from it
        except (kube.KubeError, kube.ClusterUnreachable) as exc:
            if session.stopping.is_set():
                return
            failures += 1
            # A dropped connection is retried at once; it is the kind's error only when it repeats.
            dropped = isinstance(exc, kube.KubeError) and exc.status is None
            if failures > 1 or not dropped:
                session.put(("error", plan, exc))
                session.stopping.wait(_jitter(delay))
                delay = min(delay * 2, BACKOFF_MAX)
        except Exception as exc:  # a defect: this kind's error, the other kinds go on
            log.exception("watch of %s: %s failed", session.cluster.name, key)
            failures += 1
            error = kube.KubeError(sync.INTERNAL_ERROR, detail=f"internal error: {type(exc).__name__}: {exc}")
            session.put(("error", plan, error))
            session.stopping.wait(_jitter(delay))
            delay = min(delay * 2, BACKOFF_MAX)
        finally:
            if response is not None:
                session.closed(response)


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.5, 1.5)


def _ask_relist(session: _Session, plan: sync.KindPlan) -> str:
    """Ask the writer for a fresh list of the kind; its resourceVersion, "" when it failed or stopping."""
    reply: queue.Queue = queue.Queue(maxsize=1)
    if not session.put(_Relist(plan, reply)):
        return ""
    while not session.stopping.is_set():
        try:
            return reply.get(timeout=0.5)
        except queue.Empty:
            continue
    return ""


# -- the writer (the session's own thread) -------------------------------------------------


def _write_loop(session: _Session, api) -> None:
    window = settings.SHIRUBE_WATCH_COALESCE_MS / 1000
    batch: dict[str, dict[str, kube.WatchEvent]] = defaultdict(dict)  # kind -> uid -> its last event
    held = 0
    first_at: float | None = None
    next_beat = time.monotonic()
    while True:
        now = time.monotonic()
        if session.ending() or now >= session.deadline:
            break
        waits = [session.deadline - now, next_beat - now]
        if first_at is not None:
            waits.append(first_at + window - now)
        try:
            item = session.events.get(timeout=max(0.0, min(waits)))
        except queue.Empty:
            item = None
        if isinstance(item, _Relist):
            # What was read of the kind before is older than the list that replaces it.
            batch.pop(item.plan.spec.key, None)
            session.pending_versions.pop(item.plan.spec.key, None)
            item.reply.put(_relist(session, api, item.plan)[0])
        elif item is not None:
            held += _take(session, batch, item)
            if first_at is None and batch:
                first_at = time.monotonic()
        if batch and (held >= MAX_BATCH or time.monotonic() - (first_at or 0) >= window):
            session.result.peak_batch = max(session.result.peak_batch, held)
            _flush(session, batch)
            batch.clear()
            held, first_at = 0, None
        if time.monotonic() >= next_beat:
            _cluster_beat(session, batch)
            next_beat = time.monotonic() + min(5.0, session.lock.ttl / 3)
    if not session.result.ended:
        session.result.ended = "time" if time.monotonic() >= session.deadline else "stopped"
    session.stop()
    # What was read before the end is written, so the next session has nothing to read again.
    while True:
        try:
            item = session.events.get_nowait()
        except queue.Empty:
            break
        if not isinstance(item, _Relist):
            _take(session, batch, item)
    if batch:
        _flush(session, batch)


def _take(session: _Session, batch: dict, item) -> int:
    """Put one item from a watch thread into the batch; how many objects the batch gained."""
    what, plan, payload = item
    key = plan.spec.key
    if what == "error":
        if isinstance(payload, kube.ClusterUnreachable):
            session.unreachable = payload  # every kind fails alike: the cluster's error, not each kind's
        else:
            session.kind_errors[key] = payload
        return 0
    if what == "ok":
        session.kind_errors.pop(key, None)
        session.unreachable = None
        return 0
    event: kube.WatchEvent = payload
    if event.type == "":
        session.result.kinds.setdefault(key, sync.KindResult()).skip(f"a watch line: {event.problem}")
        return 0
    if event.type == kube.BOOKMARK:
        if event.resource_version:
            # Nothing to write up to here; stored at the next beat (or with the kind's next write).
            session.pending_versions[key] = event.resource_version
        return 0
    session.result.events += 1
    if event.resource_version:
        session.pending_versions[key] = event.resource_version
    meta = event.object.get("metadata")
    uid = meta.get("uid") if isinstance(meta, dict) else None
    if not isinstance(uid, str) or not uid:
        # No uid: it cannot be matched to a row; counted, and its version still moves on.
        session.result.kinds.setdefault(key, sync.KindResult()).skip(
            f"{sync.identify(meta if isinstance(meta, dict) else {})}: metadata.uid is missing"
        )
        return 0
    kind_batch = batch[key]
    gained = uid not in kind_batch
    kind_batch[uid] = event
    return int(gained)


def _flush(session: _Session, batch: dict[str, dict[str, kube.WatchEvent]]) -> None:
    """Write a batch: each kind in one transaction with its resourceVersion, owners before pods."""
    cluster = session.cluster
    namespaces: set[str] = set()
    wrote = False
    order = {plan.spec.key: i for i, plan in enumerate(session.plans)}
    plans = {plan.spec.key: plan for plan in session.plans}
    for key in sorted(batch, key=lambda k: order.get(k, len(order))):
        events, plan = batch[key], plans.get(key)
        if plan is None or not events:
            continue
        kind = session.result.kinds.setdefault(key, sync.KindResult())
        began = time.monotonic()
        try:
            changed = _write_events(session, plan, events, kind)
            kind.ms += int((time.monotonic() - began) * 1000)
        except Exception as exc:
            # The database refused the write: this kind's error, and a fresh list puts it right.
            log.exception("watch of %s: writing %s failed", cluster.name, key)
            kind.fail(exc)
            session.kind_errors[key] = kube.KubeError(sync.INTERNAL_ERROR, detail=kind.error)
            session.versions.pop(key, None)
            continue
        if changed:
            wrote = True
            namespaces |= changed
    session.result.writes += 1
    if wrote:
        now = timezone.now()
        Cluster.objects.filter(pk=cluster.pk).update(last_sync_at=now, last_success_at=now, live_at=now)
        cluster.last_sync_at = cluster.last_success_at = now
        _changed(session, namespaces)


def _write_events(
    session: _Session, plan: sync.KindPlan, events: dict[str, kube.WatchEvent], kind: sync.KindResult
) -> set[str]:
    """Write one kind's events; the namespaces whose rows changed."""
    cluster, key = session.cluster, plan.spec.key
    transform = plan.reducer
    if key == "pods":
        transform = sync.pod_transform(sync.owner_map(cluster, _owner_uids(events.values())))
    reduce_one = sync.object_reducer(cluster, plan, transform, kind)
    upserts: dict[str, dict] = {}
    deletes: set[str] = set()
    namespaces: set[str] = set()
    for uid, event in events.items():
        meta = event.object.get("metadata") or {}
        namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""
        if event.type == "DELETED":
            deletes.add(uid)
            namespaces.add(namespace or (meta.get("name") if key == "namespaces" else "") or "")
            continue
        event.object.setdefault("kind", plan.spec.kind)
        row = reduce_one(event.object)
        if row is not None and row["uid"] == uid:
            upserts[uid] = row
            namespaces.add(row["namespace"] or (row["name"] if key == "namespaces" else ""))
    # The newest version read of this kind: every event up to it is in this batch (the writer
    # takes them in the order they were read), or was a bookmark or a skipped line.
    version = session.pending_versions.pop(key, "")
    with transaction.atomic():
        written = rows_change(
            scope=sync.scope_of(cluster, plan), key="uid", upserts=upserts, deletes=deletes,
            compare=["resource_version"], write=[f for f in sync.fields_of(plan.model) if f != "uid"],
            fixed={"cluster": cluster},
        )  # fmt: skip
        if version:
            session.versions[key] = version
            Cluster.objects.filter(pk=cluster.pk).update(resource_versions=session.versions)
    kind.seen += len(events)
    kind.created, kind.updated, kind.deleted = (
        kind.created + written.created, kind.updated + written.updated, kind.deleted + written.deleted,
    )  # fmt: skip
    if not (written.created or written.updated or written.deleted):
        return set()
    if key == "namespaces":
        namespaces_assign_teams(cluster=cluster)
    elif key in ("replicasets", "jobs") and written.created:
        _pods_adopt(cluster, [row for row in upserts.values() if row.get("owner")])
    return {n for n in namespaces if n is not None}


def _owner_uids(events) -> set[str]:
    """The uids the pods' owner references name (only those workloads are read to resolve them)."""
    uids = set()
    for event in events:
        meta = event.object.get("metadata")
        refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, dict) and isinstance(ref.get("uid"), str):
                uids.add(ref["uid"])
    return uids


def _pods_adopt(cluster: Cluster, workloads: list[dict]) -> None:
    """Pods read before their new ReplicaSet or Job now resolve to its Deployment or CronJob.

    A list writes ReplicaSets before pods; watches of two kinds are two streams, so a
    rollout's pods can arrive first and be stored as the ReplicaSet's.
    """
    for row in workloads:
        owner = row["owner"]
        if owner.get("kind") not in ("Deployment", "CronJob"):
            continue
        Pod.objects.filter(
            cluster=cluster, namespace=row["namespace"], workload_kind=row["kind"], workload_name=row["name"]
        ).update(workload_kind=owner["kind"], workload_name=owner["name"])


def _changed(session: _Session, namespaces: set[str] | None) -> None:
    run = session.run
    run.created = sum(k.created for k in session.result.kinds.values())
    run.updated = sum(k.updated for k in session.result.kinds.values())
    run.deleted = sum(k.deleted for k in session.result.kinds.values())
    sync.snapshot_changed_tell(cluster=session.cluster, run=run, namespaces=namespaces)


def _cluster_beat(session: _Session, batch: dict) -> None:
    """Say the cluster is live (or that it does not answer), with its kind errors, and store
    the versions read without a write (bookmarks) of kinds with nothing waiting to be written."""
    for key in [key for key in session.pending_versions if not batch.get(key)]:
        session.versions[key] = session.pending_versions.pop(key)
    errors = session.kind_errors
    update = {
        "resource_versions": session.versions,
        "kind_errors": {key: str(exc) for key, exc in errors.items()},
        "kind_error_details": {key: exc.detail for key, exc in errors.items()},
    }
    if session.unreachable is None:
        update.update(live_at=timezone.now(), last_error="", last_error_detail="")
    else:
        exc = session.unreachable
        update.update(live_at=None, last_error=sync.storable(str(exc), 300), last_error_detail=exc.detail)
    Cluster.objects.filter(pk=session.cluster.pk).update(**update)


def _finish(session: _Session) -> None:
    """Record the session's run, and leave the cluster's row saying how it ended."""
    run, result, cluster = session.run, session.result, session.cluster
    kinds = result.kinds
    for key, exc in session.kind_errors.items():
        if kinds.get(key, sync.KindResult()).status != "error":
            kinds.setdefault(key, sync.KindResult()).fail(exc)
    failure = session.failure or (session.unreachable.detail if session.unreachable is not None else "")
    failed = [k for k in kinds.values() if k.status == "error"]
    if failure or any(k.internal for k in failed):
        status = SyncRun.Status.FAILED
    elif failed:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.OK
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=now,
        duration_ms=int((time.monotonic() - session.started) * 1000),
        seen=sum(k.seen for k in kinds.values()), created=sum(k.created for k in kinds.values()),
        updated=sum(k.updated for k in kinds.values()), deleted=sum(k.deleted for k in kinds.values()),
        skipped=sum(k.skipped for k in kinds.values()),
        kinds={key: dict(vars(k)) for key, k in kinds.items()}, error=sync.storable(failure, 1000),
    )  # fmt: skip
    run.refresh_from_db()
    session.versions.update(session.pending_versions)
    errors = session.kind_errors
    update: dict = {
        "resource_versions": session.versions,
        "last_sync_at": now,
        "kind_errors": {key: str(exc) for key, exc in errors.items()},
        "kind_error_details": {key: exc.detail for key, exc in errors.items()},
        "skipped_objects": {
            key: {"count": k.skipped, "objects": k.skipped_objects} for key, k in kinds.items() if k.skipped
        },
    }
    if session.unreachable is not None or session.failure:
        summary = str(session.unreachable) if session.unreachable is not None else sync.INTERNAL_ERROR
        update.update(last_error=sync.storable(summary, 300), last_error_detail=run.error, live_at=None)
    else:
        update.update(last_error="", last_error_detail="", last_success_at=now)
    Cluster.objects.filter(pk=cluster.pk).update(**update)
    for key, value in update.items():
        setattr(cluster, key, value)

"""The simulator's in-memory object store.

Objects are plain dicts shaped as the API returns them. A stored dict is never
mutated: every write stores a new dict. That lets list snapshots, the watch
event log and the HTTP layer hold references without copying, while the Python
API hands out copies so callers cannot change stored state by accident.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from kubesim.resources import Registry, Resource, default_registry

# Kubernetes' "safe" alphabet for generated name suffixes (no vowels, no 0/1/3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

ResourceRef = Resource | str


class StoreError(Exception):
    """A write or read the API would refuse; the server maps it to a Status."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, resource: Resource | None = None, name: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.name = name


class NotFound(StoreError):
    code = 404
    reason = "NotFound"


class AlreadyExists(StoreError):
    code = 409
    reason = "AlreadyExists"


class Conflict(StoreError):
    code = 409
    reason = "Conflict"


class Invalid(StoreError):
    code = 422
    reason = "Invalid"


class Expired(StoreError):
    code = 410
    reason = "Expired"


class Event(NamedTuple):
    """One entry of the watch log; `old` is the previous state for MODIFIED/DELETED."""

    rv: int
    type: str
    storage_key: tuple[str, str]
    obj: dict
    old: dict | None


def clone(obj: Any) -> Any:
    """A deep copy of JSON data; orjson round-trips far faster than copy.deepcopy."""
    return orjson.loads(orjson.dumps(obj))


def timestamp(when: datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as metadata timestamps are."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_rv(obj: dict) -> dict:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _name_label(obj: dict) -> None:
    """Namespaces always carry kubernetes.io/metadata.name, set by the real server."""
    if obj.get("kind") == "Namespace":
        meta = obj["metadata"]
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]


class Store:
    """Thread-safe objects by resource type, with a global resourceVersion and an event log."""

    def __init__(self, registry: Registry | None = None, *, event_log_size: int = 10_000) -> None:
        self.registry = registry or default_registry()
        # One re-entrant lock for everything: the simulator is not about
        # throughput, and one lock makes every read a consistent snapshot.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._rv = 0
        self._log: deque[Event] = deque(maxlen=event_log_size)
        # The newest resourceVersion that fell out of the log: watches from an
        # older version cannot be served completely and get 410 Expired.
        self._log_floor = 0
        # The container registry behind the cluster, as far as kubesim plays one: repository
        # (an image without its tag) -> the tags it holds. A pod whose image names a listed
        # repository and a tag it does not hold cannot be pulled (kubesim.rollout); any
        # repository not listed pulls whatever is asked, as before.
        self.images: dict[str, set[str]] = {}

    # -- lookups -------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def resource(self, ref: ResourceRef) -> Resource:
        """Resolve `"pods"`, `"deployments.apps"` or a `Resource` to a `Resource`."""
        if isinstance(ref, Resource):
            return ref
        plural, _, group = ref.partition(".")
        for version in self.registry.versions(group):
            found = self.registry.get(group, version, plural)
            if found:
                return found
        raise LookupError(f"no resource named {ref!r}")

    def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict | None:
        """A copy of one object, or None."""
        obj = self.peek(ref, namespace, name)
        return clone(obj) if obj is not None else None

    def list(self, ref: ResourceRef, namespace: str | None = None) -> list[dict]:
        """Copies of all objects of a type (in one namespace if given), sorted by key."""
        return [clone(obj) for _, obj in self.items(ref, namespace)]

    def peek(self, ref: ResourceRef, namespace: str | None, name: str) -> dict | None:
        """The stored object itself, without copying; callers must not mutate it."""
        resource = self.resource(ref)
        key = ((namespace or "") if resource.namespaced else "", name)
        with self.lock:
            return self._objects.get(resource.storage_key, {}).get(key)

    def items(self, ref: ResourceRef, namespace: str | None = None) -> list[tuple[tuple, dict]]:
        """Sorted (key, stored object) pairs, without copying; callers must not mutate."""
        resource = self.resource(ref)
        with self.lock:
            bucket = self._objects.get(resource.storage_key, {})
            if namespace:
                pairs = [(k, o) for k, o in bucket.items() if k[0] == namespace]
            else:
                pairs = list(bucket.items())
        pairs.sort(key=lambda pair: pair[0])
        return pairs

    def count(self, ref: ResourceRef) -> int:
        with self.lock:
            return len(self._objects.get(self.resource(ref).storage_key, {}))

    def copy(self) -> Store:
        """An independent store holding the same objects, resourceVersions and event log.

        Cheap: stored dicts are never mutated, so the copy shares them and only the
        buckets are new. Tests seed the demo once and give each test a copy.
        """
        with self.lock:
            other = Store(self.registry.copy(), event_log_size=self._log.maxlen or 0)
            other._objects = {key: dict(bucket) for key, bucket in self._objects.items()}
            other._rv = self._rv
            other._log.extend(self._log)
            other._log_floor = self._log_floor
            other.images = {name: set(tags) for name, tags in self.images.items()}
        return other

    # -- writes --------------------------------------------------------------

    def create(self, obj: dict, *, resource: ResourceRef | None = None) -> dict:
        """Store a new object (a copy of `obj`) and return a copy of what was stored.

        A uid or creationTimestamp already on the object is kept, so builders can
        link ownerReferences and backdate objects; the HTTP layer strips them.
        """
        res = self._resource_for(obj, resource)
        with self.lock:
            stored = self._insert(res, clone(obj))
            return clone(stored)

    def load(self, objects: Iterable[dict]) -> int:
        """Bulk-create objects, taking ownership of the dicts instead of copying them.

        For seeding large clusters fast. The caller must not touch the dicts (or
        anything they share) afterwards; sharing sub-dicts between objects is
        fine because stored objects are never mutated.
        """
        count = 0
        with self.lock:
            for obj in objects:
                self._insert(self.registry.for_object(obj), obj)
                count += 1
        return count

    def replace(
        self,
        obj: dict,
        *,
        resource: ResourceRef | None = None,
        keep_status: bool = False,
        status_only: bool = False,
    ) -> dict:
        """Replace an existing object; returns a copy of what was stored.

        `keep_status` ignores `.status` in `obj` (a write to the main resource);
        `status_only` takes nothing but `.status` (a write to `/status`). A
        resourceVersion in `obj` must match the stored one, as on the real server.
        """
        res = self._resource_for(obj, resource)
        with self.lock:
            stored = self._replace(res, clone(obj), keep_status, status_only)
            return clone(stored)

    def apply(self, obj: dict) -> dict:
        """Create or replace regardless of resourceVersion (for seeding and evolving)."""
        res = self.registry.for_object(obj)
        with self.lock:
            obj = clone(obj)
            namespace, name = self._key(res, obj)
            if self._objects.get(res.storage_key, {}).get((namespace, name)) is None:
                return clone(self._insert(res, obj))
            obj["metadata"].pop("resourceVersion", None)
            return clone(self._replace(res, obj, False, False))

    def update(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        change: Callable[[dict], dict | None],
        *,
        keep_status: bool = False,
        status_only: bool = False,
    ) -> dict:
        """Read-modify-write under the lock: `change` gets a copy and edits or returns it."""
        res = self.resource(ref)
        with self.lock:
            current = self.peek(res, namespace, name)
            if current is None:
                raise self._not_found(res, name)
            draft = clone(current)
            changed = change(draft)
            new = draft if changed is None else changed
            # The read and the write are atomic here, so no precondition needed,
            # unless the change itself asked for one.
            if new.get("metadata", {}).get("resourceVersion") == current["metadata"].get("resourceVersion"):
                new["metadata"].pop("resourceVersion", None)
            return clone(self._replace(res, new, keep_status, status_only))

    def delete(self, ref: ResourceRef, namespace: str | None, name: str, *, cascade: bool = True) -> dict:
        """Delete an object; with `cascade`, also what it owns (and a namespace's contents).

        The real server leaves this to the garbage collector and the namespace
        controller; doing it at once keeps the demo and tests deterministic.
        """
        res = self.resource(ref)
        with self.lock:
            key = ((namespace or "") if res.namespaced else "", name)
            bucket = self._objects.get(res.storage_key, {})
            obj = bucket.get(key)
            if obj is None:
                raise self._not_found(res, name)
            self._remove(res.storage_key, key)
            if cascade:
                self._cascade(obj, is_namespace=res.storage_key == ("", "namespaces"))
            return clone(obj)

    # -- watch support -------------------------------------------------------

    def events_after(self, rv: int) -> list[Event]:
        """Events newer than `rv`; raises Expired if some have left the log."""
        with self.lock:
            if rv < self._log_floor:
                raise Expired(f"too old resource version: {rv} ({self._log_floor})")
            newer: list[Event] = []
            for event in reversed(self._log):
                if event.rv <= rv:
                    break
                newer.append(event)
            newer.reverse()
            return newer

    def wait_for_change(self, rv: int, timeout: float) -> bool:
        """Block until the store moves past `rv` or `timeout` passes; True if it moved."""
        with self.changed:
            return self.changed.wait_for(lambda: self._rv > rv, timeout)

    def wake_waiters(self) -> None:
        """Wake every waiting watch (the server calls this when it stops)."""
        with self.changed:
            self.changed.notify_all()

    # -- internals (callers hold the lock) ----------------------------------

    def _resource_for(self, obj: dict, ref: ResourceRef | None) -> Resource:
        return self.resource(ref) if ref is not None else self.registry.for_object(obj)

    def _key(self, res: Resource, obj: dict) -> tuple[str, str]:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            if not meta.get("namespace"):
                raise Invalid(f"{res.kind} {meta.get('name')!r} needs metadata.namespace")
        else:
            meta.pop("namespace", None)
        return (meta.get("namespace") or "", meta.get("name") or "")

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _insert(self, res: Resource, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise Invalid("name or generateName is required", resource=res, name=meta.get("name", ""))
            meta["name"] = prefix + "".join(random.choices(NAME_ALPHABET, k=5))
        key = self._key(res, obj)
        bucket = self._objects.setdefault(res.storage_key, {})
        if key in bucket:
            raise AlreadyExists(f'{res.qualified_name} "{key[1]}" already exists', resource=res, name=key[1])
        obj["apiVersion"] = obj.get("apiVersion") or res.group_version
        obj["kind"] = obj.get("kind") or res.kind
        _name_label(obj)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", timestamp())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = self._bump()
        bucket[key] = obj
        self._record("ADDED", res.storage_key, obj, None)
        return obj

    def _replace(self, res: Resource, new: dict, keep_status: bool, status_only: bool) -> dict:
        key = self._key(res, new)
        bucket = self._objects.get(res.storage_key, {})
        current = bucket.get(key)
        if current is None:
            raise self._not_found(res, key[1])
        wanted_rv = new["metadata"].get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise Conflict(
                f'Operation cannot be fulfilled on {res.qualified_name} "{key[1]}": the object '
                "has been modified; please apply your changes to the latest version and try again",
                resource=res,
                name=key[1],
            )
        if status_only:
            stored = dict(current)
            stored["metadata"] = dict(current["metadata"])
            if "status" in new:
                stored["status"] = new["status"]
            else:
                stored.pop("status", None)
        else:
            stored = new
            if keep_status:
                if "status" in current:
                    stored["status"] = current["status"]
                else:
                    stored.pop("status", None)
            meta = stored["metadata"]
            # The server owns these; a client cannot change them on update.
            for field in ("uid", "creationTimestamp", "deletionTimestamp"):
                if field in current["metadata"]:
                    meta[field] = current["metadata"][field]
            _name_label(stored)
            generation = current["metadata"].get("generation", 1)
            if stored.get("spec") != current.get("spec"):
                generation += 1
            meta["generation"] = generation
        stored["apiVersion"] = current["apiVersion"]
        stored["kind"] = current["kind"]
        if _without_rv(stored) == _without_rv(current):
            # A no-op write keeps its resourceVersion and sends no event, as on the server.
            return current
        stored["metadata"]["resourceVersion"] = self._bump()
        bucket[key] = stored
        self._record("MODIFIED", res.storage_key, stored, current)
        return stored

    def _remove(self, storage_key: tuple[str, str], key: tuple[str, str]) -> None:
        old = self._objects[storage_key].pop(key)
        # The DELETED event carries the object at a new resourceVersion.
        gone = dict(old)
        gone["metadata"] = {**old["metadata"], "resourceVersion": self._bump()}
        self._record("DELETED", storage_key, gone, old)

    def _cascade(self, root: dict, *, is_namespace: bool) -> None:
        # Index owners once so a large cascade stays linear in the store size.
        children: dict[str, list[tuple[tuple[str, str], tuple[str, str]]]] = {}
        for storage_key, bucket in self._objects.items():
            for key, obj in bucket.items():
                if is_namespace and key[0] == root["metadata"]["name"]:
                    children.setdefault(root["metadata"]["uid"], []).append((storage_key, key))
                    continue
                for ref in obj["metadata"].get("ownerReferences", ()):
                    children.setdefault(ref.get("uid", ""), []).append((storage_key, key))
        pending = [root["metadata"].get("uid", "")]
        while pending:
            for storage_key, key in children.pop(pending.pop(), ()):
                obj = self._objects[storage_key].get(key)
                if obj is not None:
                    self._remove(storage_key, key)
                    pending.append(obj["metadata"].get("uid", ""))

    def _record(self, type_: str, storage_key: tuple[str, str], obj: dict, old: dict | None) -> None:
        if len(self._log) == self._log.maxlen:
            self._log_floor = self._log[0].rv
        self._log.append(Event(self._rv, type_, storage_key, obj, old))
        self.changed.notify_all()

    def _not_found(self, res: Resource, name: str) -> NotFound:
        return NotFound(f'{res.qualified_name} "{name}" not found', resource=res, name=name)

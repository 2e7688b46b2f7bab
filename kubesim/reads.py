"""Reads: get one object, and list a collection in pages over a consistent snapshot.

A paginated list keeps the first page's selection (keys and stored objects, which
are never mutated) in a small cache, so later pages read the state the first one
saw, as the real server does from etcd's revision. A token whose snapshot left the
cache answers 410 Expired with a token that continues from the current state.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from kubesim import status
from kubesim.resources import Resource
from kubesim.routes import Request, Route
from kubesim.selectors import Matcher, SelectorError, matcher
from kubesim.status import ApiError

if TYPE_CHECKING:
    from kubesim.server import Simulator


class Snapshots:
    """First pages of paginated lists, kept so later pages read the same state."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[list, list]] = OrderedDict()

    def get(self, key: tuple) -> tuple[list, list] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: tuple[list, list]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


def _encode_continue(rv: int, key: tuple[str, str], page: int) -> str:
    # Shaped like the real server's token (base64 JSON of version, rv and start
    # key); `page` is ours, so faults can target "page 3".
    data = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00", "page": page}
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def _decode_continue(token: str) -> dict:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, _, name = data["start"].rstrip("\x00").partition("/")
        return {"rv": int(data["rv"]), "key": (namespace, name), "page": int(data.get("page", 2))}
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise ApiError.of(400, f"continue key is not valid: {exc}") from None


def continue_page(token: str | None) -> int:
    """Which page a request asks for (1 without a token, 0 for a garbled one), for fault matching."""
    if not token:
        return 1
    try:
        return _decode_continue(token)["page"]
    except ApiError:
        return 0


def object_served(resource: Resource, obj: dict, *, in_list: bool = False) -> dict:
    """The object as this API version serves it (lists of built-ins omit kind)."""
    if in_list and not resource.custom:
        return {k: v for k, v in obj.items() if k != "kind" and k != "apiVersion"}
    if obj.get("apiVersion") != resource.group_version:
        return {**obj, "apiVersion": resource.group_version}
    return obj


def selection_matcher(route: Route, query: dict) -> Matcher:
    """The request's label and field selectors as one predicate; a malformed one is a 400."""
    try:
        return matcher(query.get("labelSelector"), query.get("fieldSelector"), route.resource)
    except SelectorError as exc:
        raise ApiError.of(400, str(exc)) from None


def object_get(sim: Simulator, route: Route, request: Request) -> tuple[int, dict]:
    obj = sim.store.peek(route.resource, route.namespace, route.name)
    if obj is None:
        message = f'{route.resource.qualified_name} "{route.name}" not found'
        raise ApiError.of(404, message, details=status.details(route.resource, route.name))
    return 200, object_served(route.resource, obj)


def objects_list(sim: Simulator, route: Route, request: Request) -> tuple[int, dict]:
    store, query, resource = sim.store, request.query, route.resource
    matches = selection_matcher(route, query)
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise ApiError.of(400, f"invalid limit: {query['limit']!r}") from None
    selected = bool(query.get("labelSelector") or query.get("fieldSelector"))
    snapshot_key = (
        resource.storage_key,
        route.namespace,
        query.get("labelSelector") or "",
        query.get("fieldSelector") or "",
    )
    token = query.get("continue")
    start, page = 0, 1
    entry = None
    if token:
        cont = _decode_continue(token)
        page = cont["page"]
        if cont["rv"] >= 0:
            entry = sim.snapshots.get((cont["rv"], *snapshot_key))
            if entry is None:
                # As the real server does, offer a token that continues from
                # the latest state, knowingly inconsistent.
                fresh = _encode_continue(-1, cont["key"], page)
                raise ApiError.of(410, status.CONTINUE_EXPIRED, metadata={"continue": fresh})
            rv = cont["rv"]
    if entry is None:
        with store.lock:
            rv = store.resource_version
            pairs = store.items(resource, route.namespace or None)
        selection = [(k, o) for k, o in pairs if matches(o)]
        entry = ([k for k, _ in selection], [o for _, o in selection])
    keys, objects = entry
    if token:
        start = bisect.bisect_right(keys, cont["key"])
    end = start + limit if limit else len(keys)
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if end < len(keys):
        metadata["continue"] = _encode_continue(rv, keys[end - 1], page + 1)
        if not selected:
            metadata["remainingItemCount"] = len(keys) - end
        sim.snapshots.put((rv, *snapshot_key), entry)
    items = [object_served(resource, o, in_list=True) for o in objects[start:end]]
    return 200, {
        "kind": resource.list_kind,
        "apiVersion": resource.group_version,
        "metadata": metadata,
        "items": items,
    }

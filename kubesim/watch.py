"""Watch: newline-delimited JSON events over chunked transfer encoding, from the store's event log.

Without a resourceVersion (or with "0") a watch starts with an ADDED event per current
object; with one, it replays the log after it, or answers an ERROR event with a 410
Status when that version has left the log. Bookmarks are sent when asked for.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import orjson

from kubesim import status
from kubesim.reads import object_served, selection_matcher
from kubesim.resources import Resource
from kubesim.routes import Request, Route
from kubesim.selectors import Matcher
from kubesim.status import ApiError
from kubesim.store import Event, Expired

if TYPE_CHECKING:
    from kubesim.server import Simulator


class EventStream:
    """Newline-delimited JSON watch events over chunked transfer encoding."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._handler = handler
        self.alive = True

    def open(self) -> None:
        h = self._handler
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()

    def send(self, events: list[dict]) -> None:
        # Batch lines into chunks of ~64 KiB: a watch opened on a large
        # collection starts with one ADDED event per object.
        buffer = bytearray()
        for event in events:
            buffer += orjson.dumps(event)
            buffer += b"\n"
            if len(buffer) >= 65536:
                self._write(bytes(buffer))
                buffer.clear()
        if buffer:
            self._write(bytes(buffer))

    def close(self) -> None:
        self._write(b"")
        # The client reads to the end of the stream; a fresh connection is cheap.
        self._handler.close_connection = True

    def _write(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._handler.wfile.flush()
        except OSError:
            self.alive = False
            self._handler.close_connection = True


def objects_watch(sim: Simulator, route: Route, request: Request, stream: EventStream) -> None:
    """Stream the route's changes until the timeout, the client leaves or the simulator stops."""
    store, query, resource = sim.store, request.query, route.resource
    matches = selection_matcher(route, query)
    try:
        timeout = int(query.get("timeoutSeconds") or sim.watch_timeout)
    except ValueError:
        raise ApiError.of(400, "invalid timeoutSeconds") from None
    timeout = max(0, min(timeout, sim.max_watch_timeout))
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    requested = query.get("resourceVersion") or ""
    initial_events = query.get("sendInitialEvents") in ("true", "1") or requested in ("", "0")
    if requested not in ("", "0") and not requested.isdigit():
        raise ApiError.of(400, f"invalid resourceVersion: {requested!r}")

    initial: list[dict] = []
    expired: str | None = None
    with store.lock:
        since = store.resource_version
        if initial_events:
            for _, obj in store.items(resource, route.namespace or None):
                if matches(obj):
                    initial.append({"type": "ADDED", "object": object_served(resource, obj)})
        else:
            since = int(requested)
            try:
                store.events_after(since)
            except Expired as exc:
                expired = exc.message
    stream.open()
    if expired is not None:
        stream.send([{"type": "ERROR", "object": status.failure(410, expired)}])
        stream.close()
        return
    stream.send(initial)
    if initial_events and bookmarks and query.get("sendInitialEvents") in ("true", "1"):
        stream.send([_bookmark(resource, since, initial_end=True)])

    deadline = time.monotonic() + timeout
    last_sent = time.monotonic()
    while not sim.stopping and stream.alive:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            events = store.events_after(since)
        except Expired as exc:
            stream.send([{"type": "ERROR", "object": status.failure(410, exc.message)}])
            break
        lines = []
        for event in events:
            since = event.rv
            line = _watch_line(route, matches, event)
            if line is not None:
                lines.append(line)
        if lines:
            stream.send(lines)
            last_sent = time.monotonic()
            continue
        if bookmarks and time.monotonic() - last_sent >= sim.bookmark_interval:
            stream.send([_bookmark(resource, since)])
            last_sent = time.monotonic()
        wait = remaining
        if bookmarks:
            wait = min(wait, max(0.01, sim.bookmark_interval - (time.monotonic() - last_sent)))
        store.wait_for_change(since, wait)
    stream.close()


def _watch_line(route: Route, matches: Matcher, event: Event) -> dict | None:
    """The watch event a client of this route sees for a store event, if any."""
    resource = route.resource
    if event.storage_key != resource.storage_key:
        return None
    if route.namespace and event.obj["metadata"].get("namespace") != route.namespace:
        return None
    now = matches(event.obj)
    before = event.old is not None and event.type == "MODIFIED" and matches(event.old)
    if event.type == "MODIFIED":
        # An object moving into or out of the selection is an add or a
        # delete for this watcher, as the real watch cache reports it.
        type_ = {(True, True): "MODIFIED", (True, False): "ADDED", (False, True): "DELETED"}
        kind = type_.get((now, before))
    else:
        kind = event.type if now else None
    if kind is None:
        return None
    return {"type": kind, "object": object_served(resource, event.obj)}


def _bookmark(resource: Resource, rv: int, *, initial_end: bool = False) -> dict:
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": resource.kind, "apiVersion": resource.group_version, "metadata": metadata},
    }

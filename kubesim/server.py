"""A Kubernetes-API-compatible HTTP server over the in-memory store.

It speaks the part of the real API the portal uses (group discovery, list with
limit/continue, get, create, replace, merge and strategic merge patch, `/status`,
watch) for the official `kubernetes` client to talk to it unpatched, with errors
as `Status` objects. Standard
library only (plus orjson), plain HTTP, one thread per connection.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import logging
import socket
import socketserver
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from kubesim import status
from kubesim.faults import Fault, Faults, RequestCounter
from kubesim.kubeconfig import write_kubeconfig
from kubesim.patch import merge_patch, strategic_merge_patch
from kubesim.resources import Registry, Resource
from kubesim.selectors import Matcher, SelectorError, matcher
from kubesim.store import Event, Expired, Store, StoreError

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

# Keys the server owns on create; a client cannot choose them.
_SERVER_OWNED_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "managedFields",
)


class ApiError(Exception):
    """An error answered with a Status body."""

    def __init__(self, body: dict) -> None:
        super().__init__(body["message"])
        self.body = body

    @classmethod
    def of(cls, code: int, message: str | None = None, **kwargs: Any) -> ApiError:
        return cls(status.failure(code, message, **kwargs))


@dataclass(frozen=True)
class Route:
    """What a resource path names: a collection or an object, maybe a subresource."""

    resource: Resource
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    watch_prefix: bool = False


class _Snapshots:
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


def _page_of(token: str | None) -> int:
    """Which page a request asks for (1 without a token), for fault matching."""
    if not token:
        return 1
    try:
        return _decode_continue(token)["page"]
    except ApiError:
        return 0


class Simulator:
    """A fake Kubernetes API server on 127.0.0.1, started in a background thread.

    Use as a context manager, or call `start()` and `stop()`. Every API request
    needs `Authorization: Bearer <token>` when `token` is set.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        user: str = "system:serviceaccount:shirube:shirube",
        watch_timeout: int = 30,
        max_watch_timeout: int = 300,
        bookmark_interval: float = 5.0,
        snapshot_cache_size: int = 32,
    ) -> None:
        self.store = store or Store()
        self.host = host
        self.port = port
        self.token = token
        # Named in 403 messages, as RBAC names the caller.
        self.user = user
        self.watch_timeout = watch_timeout
        self.max_watch_timeout = max_watch_timeout
        self.bookmark_interval = bookmark_interval
        self.requests = RequestCounter()
        self.faults = Faults()
        self._snapshots = _Snapshots(snapshot_cache_size)
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def registry(self) -> Registry:
        return self.store.registry

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; returns self once accepting connections."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kubesim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open watches and close every open connection."""
        if self._httpd is None:
            return
        self._stopping.set()
        self.store.wake_waiters()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_fault(
        self,
        path: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = None,
        only_continue: bool = False,
        page: int | None = None,
        rewrite: tuple[str, str] | None = None,
    ) -> Fault:
        """Make matching requests fail, stall, lose their connection or carry odd JSON; see `Fault`."""
        return self.faults.add(
            Fault(
                path,
                status=status,
                delay=delay,
                drop=drop,
                times=times,
                only_continue=only_continue,
                page=page,
                rewrite=tuple(rewrite) if rewrite else None,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_requests(self) -> None:
        self.requests.reset()

    def write_kubeconfig(self, path: str | Path, context: str = "demo") -> Path:
        """Write a kubeconfig pointing at this server (with its token) and return its path."""
        return write_kubeconfig(path, self.url, self.token, context=context)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall for
        # seconds where DNS is slow; we know the name already.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down kept-alive connections so their threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("kubesim: error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    disable_nagle_algorithm = True
    server: _HTTPServer
    _rewrite: tuple[str, str] | None = None  # from a rewrite fault, for this request's answer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubesim: " + format, *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        # Deletes are not served, but the refusal is a Status like every other error.
        self._serve("DELETE")

    # -- plumbing ------------------------------------------------------------

    def _serve(self, method: str) -> None:
        sim = self.server.sim
        if sim.stopping:
            # A request that slipped in while the server was going away gets no
            # answer, as from a real server whose process ended.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        url = urlsplit(self.path)
        # Some client calls end in a slash (`/version/`); the server ignores it.
        path = unquote(url.path).rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self._rewrite = None  # one handler serves every request of a kept-alive connection
        try:
            if path.startswith("/_sim/"):
                self._check_token()
                self._control(method, path)
                return
            sim.requests.record(method, path)
            self._check_token()
            token = query.get("continue")
            fault = sim.faults.take(path, bool(token), _page_of(token))
            if fault is not None and self._apply_fault(fault, method, path, query):
                return
            self._dispatch(method, path, query)
        except ApiError as exc:
            self._send_json(exc.body["code"], exc.body)
        except StoreError as exc:
            body = status.failure(
                exc.code,
                exc.message,
                reason=exc.reason,
                details=status.details(exc.resource, exc.name),
            )
            self._send_json(exc.code, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            # A bug here must reach the client as what a real server sends, a 500
            # Status, and the log, rather than as a silently closed connection.
            log.exception("kubesim: %s %s failed", method, path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_json(500, status.failure(500, "Internal error occurred: kubesim bug"))

    def _check_token(self) -> None:
        token = self.server.sim.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            raise ApiError.of(401)

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        if self._rewrite:
            old, new = self._rewrite
            data = data.replace(old.encode(), new.encode())
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _json_body(self) -> Any:
        try:
            return orjson.loads(self._body or b"null")
        except orjson.JSONDecodeError as exc:
            raise ApiError.of(400, f"the request body is not valid JSON: {exc}") from None

    # -- fault injection -----------------------------------------------------

    def _apply_fault(self, fault: Fault, method: str, path: str, query: dict) -> bool:
        """Carry out a fault; True when it answered (or dropped) the request."""
        sim = self.server.sim
        if fault.delay:
            sim._stopping.wait(fault.delay)
        if fault.drop:
            # No status line at all: the client sees the connection close.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault.rewrite:
            self._rewrite = fault.rewrite
        if fault.status is None:
            return False
        self._send_json(
            fault.status,
            self._fault_status(fault, method, path, query),
            # API priority and fairness sends Retry-After with 429 (and urllib3,
            # under the official client, honours it by retrying).
            {"Retry-After": "1"} if fault.status == 429 else None,
        )
        return True

    def _fault_status(self, fault: Fault, method: str, path: str, query: dict) -> dict:
        route = None
        with contextlib.suppress(ApiError):
            route = self._route(path)
        resource = route.resource if route else None
        message = None
        if fault.status == 403:
            message = status.forbidden_message(
                self.server.sim.user,
                self._verb(method, route, query),
                resource,
                namespace=route.namespace if route else "",
                name=route.name if route else "",
                subresource=route.subresource if route else "",
                path=path,
            )
        elif fault.status == 404 and route and route.name:
            message = f'{resource.qualified_name} "{route.name}" not found'
        elif fault.status == 410 and query.get("continue"):
            message = status.CONTINUE_EXPIRED
        extra = {}
        if fault.status == 429:
            extra = {"retryAfterSeconds": 1}
        details = status.details(resource, route.name if route else "") | extra
        return status.failure(fault.status, message, details=details or None)

    @staticmethod
    def _verb(method: str, route: Route | None, query: dict) -> str:
        if method == "GET":
            if route and route.name:
                return "get"
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())

    # -- control endpoints (/_sim/...) --------------------------------------

    def _control(self, method: str, path: str) -> None:
        # bench/cluster_sync.py runs kubesim in its own process and reads the count here.
        if path == "/_sim/requests" and method == "GET":
            self._send_json(200, {"total": self.server.sim.requests.total})
            return
        raise ApiError.of(404)

    # -- routing -------------------------------------------------------------

    def _dispatch(self, method: str, path: str, query: dict) -> None:
        discovery = self._discovery(path)
        if discovery is not None:
            if method != "GET":
                raise ApiError.of(405)
            self._send_json(200, discovery)
            return
        route = self._route(path)
        watch = route.watch_prefix or query.get("watch") in ("true", "1")
        if route.name:
            handlers = {"GET": self._get, "PUT": self._replace, "PATCH": self._patch}
        elif watch and method == "GET":
            handlers = {"GET": self._watch}
        else:
            handlers = {"GET": self._list, "POST": self._create}
        handler = handlers.get(method)
        if handler is None:
            raise ApiError.of(405)
        handler(route, query)

    def _discovery(self, path: str) -> dict | None:
        registry = self.server.sim.registry
        parts = [p for p in path.split("/") if p]
        if parts == ["apis"]:
            groups = [self._group(g) for g in registry.groups()]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if len(parts) == 3 and parts[0] == "apis":
            if parts[2] not in registry.versions(parts[1]) or not parts[1]:
                raise ApiError.of(404)
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{parts[1]}/{parts[2]}",
                "resources": self._resources(parts[1], parts[2]),
            }
        return None

    def _group(self, group: str) -> dict:
        versions = [
            {"groupVersion": f"{group}/{v}", "version": v} for v in self.server.sim.registry.versions(group)
        ]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _resources(self, group: str, version: str) -> list[dict]:
        resources = self.server.sim.registry.in_group_version(group, version)
        return [entry for r in resources for entry in r.discovery_entries()]

    def _route(self, path: str) -> Route:
        """Parse `/api/v1/...` or `/apis/<g>/<v>/...` into a Route, or 404."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError.of(404)
        watch_prefix = rest[0] == "watch"
        if watch_prefix:
            rest = rest[1:]
        namespace = name = subresource = ""
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            namespace, plural, tail = rest[1], rest[2], rest[3:]
        elif rest:
            plural, tail = rest[0], rest[1:]
        else:
            raise ApiError.of(404)
        if len(tail) > 2:
            raise ApiError.of(404)
        if tail:
            name = tail[0]
        if len(tail) == 2:
            subresource = tail[1]
        resource = self.server.sim.registry.get(group, version, plural)
        if resource is None:
            raise ApiError.of(404)
        if namespace and not resource.namespaced:
            raise ApiError.of(404)
        if name and resource.namespaced and not namespace:
            raise ApiError.of(404)
        if subresource and (subresource != "status" or not resource.status_subresource):
            raise ApiError.of(404)
        return Route(resource, namespace, name, subresource, watch_prefix)

    # -- reads ---------------------------------------------------------------

    def _served(self, resource: Resource, obj: dict, *, in_list: bool = False) -> dict:
        """The object as this API version serves it (lists of built-ins omit kind)."""
        if in_list and not resource.custom:
            return {k: v for k, v in obj.items() if k != "kind" and k != "apiVersion"}
        if obj.get("apiVersion") != resource.group_version:
            return {**obj, "apiVersion": resource.group_version}
        return obj

    def _get(self, route: Route, query: dict) -> None:
        obj = self.server.sim.store.peek(route.resource, route.namespace, route.name)
        if obj is None:
            raise self._not_found(route)
        self._send_json(200, self._served(route.resource, obj))

    def _not_found(self, route: Route) -> ApiError:
        message = f'{route.resource.qualified_name} "{route.name}" not found'
        return ApiError.of(404, message, details=status.details(route.resource, route.name))

    def _matcher(self, route: Route, query: dict) -> Matcher:
        try:
            return matcher(query.get("labelSelector"), query.get("fieldSelector"), route.resource)
        except SelectorError as exc:
            raise ApiError.of(400, str(exc)) from None

    def _list(self, route: Route, query: dict) -> None:
        sim = self.server.sim
        store = sim.store
        resource = route.resource
        matches = self._matcher(route, query)
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
                entry = sim._snapshots.get((cont["rv"], *snapshot_key))
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
            sim._snapshots.put((rv, *snapshot_key), entry)
        items = [self._served(resource, o, in_list=True) for o in objects[start:end]]
        self._send_json(
            200,
            {
                "kind": resource.list_kind,
                "apiVersion": resource.group_version,
                "metadata": metadata,
                "items": items,
            },
        )

    def _watch(self, route: Route, query: dict) -> None:
        sim = self.server.sim
        store = sim.store
        resource = route.resource
        matches = self._matcher(route, query)
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

        stream = _EventStream(self)
        initial: list[dict] = []
        expired: str | None = None
        with store.lock:
            since = store.resource_version
            if initial_events:
                for _, obj in store.items(resource, route.namespace or None):
                    if matches(obj):
                        initial.append({"type": "ADDED", "object": self._served(resource, obj)})
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
            stream.send([self._bookmark(resource, since, initial_end=True)])

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
                line = self._watch_line(route, matches, event)
                if line is not None:
                    lines.append(line)
            if lines:
                stream.send(lines)
                last_sent = time.monotonic()
                continue
            if bookmarks and time.monotonic() - last_sent >= sim.bookmark_interval:
                stream.send([self._bookmark(resource, since)])
                last_sent = time.monotonic()
            wait = remaining
            if bookmarks:
                wait = min(wait, max(0.01, sim.bookmark_interval - (time.monotonic() - last_sent)))
            store.wait_for_change(since, wait)
        stream.close()

    def _watch_line(self, route: Route, matches: Matcher, event: Event) -> dict | None:
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
        return {"type": kind, "object": self._served(resource, event.obj)}

    @staticmethod
    def _bookmark(resource: Resource, rv: int, *, initial_end: bool = False) -> dict:
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {
                "kind": resource.kind,
                "apiVersion": resource.group_version,
                "metadata": metadata,
            },
        }

    # -- writes --------------------------------------------------------------

    def _object_body(self, route: Route) -> dict:
        body = self._json_body()
        if not isinstance(body, dict):
            raise ApiError.of(400, "the request body must be a JSON object")
        kind = body.get("kind")
        if kind and kind != route.resource.kind:
            raise ApiError.of(400, f"the kind in the body ({kind}) does not match {route.resource.kind}")
        body["kind"] = route.resource.kind
        body["apiVersion"] = route.resource.group_version
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.of(400, "metadata must be an object")
        if route.resource.namespaced:
            ns = meta.get("namespace")
            if ns and ns != route.namespace:
                raise ApiError.of(
                    400,
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = route.namespace
        return body

    def _require_namespace(self, route: Route) -> None:
        store = self.server.sim.store
        if route.namespace and store.peek("namespaces", None, route.namespace) is None:
            ns = store.resource("namespaces")
            raise ApiError.of(
                404,
                f'namespaces "{route.namespace}" not found',
                details=status.details(ns, route.namespace),
            )

    def _create(self, route: Route, query: dict) -> None:
        if route.resource.namespaced and not route.namespace:
            raise ApiError.of(405)
        self._require_namespace(route)
        body = self._object_body(route)
        for key in _SERVER_OWNED_METADATA:
            body["metadata"].pop(key, None)
        if route.resource.status_subresource:
            # Status belongs to controllers; a create starts with none (a pod, Pending).
            body["status"] = {"phase": "Pending"} if route.resource.plural == "pods" else {}
        created = self.server.sim.store.create(body, resource=route.resource)
        self._send_json(201, self._served(route.resource, created))

    def _replace(self, route: Route, query: dict) -> None:
        body = self._object_body(route)
        name = body["metadata"].get("name")
        if name != route.name:
            raise ApiError.of(
                400,
                f"the name of the object ({name}) does not match the name on the URL ({route.name})",
            )
        on_status = route.subresource == "status"
        stored = self.server.sim.store.replace(
            body,
            resource=route.resource,
            keep_status=route.resource.status_subresource and not on_status,
            status_only=on_status,
        )
        self._send_json(200, self._served(route.resource, stored))

    def _patch(self, route: Route, query: dict) -> None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        # JSON patch and server-side apply are not served: nothing here sends them.
        merge = {MERGE_PATCH: merge_patch, STRATEGIC_PATCH: strategic_merge_patch}.get(content_type)
        if merge is None:
            raise ApiError.of(415)
        patch = self._json_body()
        if not isinstance(patch, dict):
            raise ApiError.of(400, "a merge patch must be a JSON object")

        def change(current: dict) -> dict:
            patched = merge(current, patch)
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise ApiError.of(422, "the patched object is not a valid object")
            # Identity cannot be patched away.
            patched["metadata"]["name"] = route.name
            if route.namespace:
                patched["metadata"]["namespace"] = route.namespace
            return patched

        on_status = route.subresource == "status"
        stored = self.server.sim.store.update(
            route.resource,
            route.namespace or None,
            route.name,
            change,
            keep_status=route.resource.status_subresource and not on_status,
            status_only=on_status,
        )
        self._send_json(200, self._served(route.resource, stored))


class _EventStream:
    """Newline-delimited JSON watch events over chunked transfer encoding."""

    def __init__(self, handler: _Handler) -> None:
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

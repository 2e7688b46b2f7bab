"""The simulator: a Kubernetes-API-compatible HTTP server over the in-memory store.

It speaks the part of the real API the portal uses (group discovery, list with
limit/continue, get, create, replace, merge and strategic merge patch, `/status`,
watch) for the official `kubernetes` client to talk to it unpatched, with errors
as `Status` objects. Standard library only (plus orjson), plain HTTP, one thread
per connection. This module serves HTTP: authentication, faults, the control
endpoint and routing; the endpoints are in `discovery`, `reads`, `watch` and `writes`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from kubesim import status
from kubesim.discovery import discovery_document
from kubesim.faults import Fault, Faults, RequestCounter, fault_status
from kubesim.kubeconfig import write_kubeconfig
from kubesim.reads import Snapshots, continue_page, object_get, objects_list
from kubesim.resources import Registry
from kubesim.routes import Request, Route, route_parse
from kubesim.status import ApiError
from kubesim.store import Store, StoreError
from kubesim.watch import EventStream, objects_watch
from kubesim.writes import object_create, object_patch, object_replace

log = logging.getLogger(__name__)

Endpoint = Callable[["Simulator", Route, Request], tuple[int, dict]]
# Deletes are not among them: a DELETE is answered 405, as a Status.
OBJECT_ENDPOINTS: dict[str, Endpoint] = {"GET": object_get, "PUT": object_replace, "PATCH": object_patch}
COLLECTION_ENDPOINTS: dict[str, Endpoint] = {"GET": objects_list, "POST": object_create}


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
        self.snapshots = Snapshots(snapshot_cache_size)
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
        method: str | None = None,
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
                method=method,
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
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        request = Request(method, query, self.rfile.read(length) if length else b"", content_type)
        self._rewrite = None  # one handler serves every request of a kept-alive connection
        try:
            if path.startswith("/_sim/"):
                self._check_token()
                self._control(method, path)
                return
            sim.requests.record(method, path)
            self._check_token()
            token = query.get("continue")
            fault = sim.faults.take(path, bool(token), continue_page(token), method)
            if fault is not None and self._apply_fault(fault, method, path, query):
                return
            self._dispatch(request, path)
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
        body = fault_status(
            fault, user=sim.user, registry=sim.registry, method=method, path=path, query=query
        )
        # API priority and fairness sends Retry-After with 429 (and urllib3,
        # under the official client, honours it by retrying).
        self._send_json(fault.status, body, {"Retry-After": "1"} if fault.status == 429 else None)
        return True

    def _control(self, method: str, path: str) -> None:
        # bench/cluster_sync.py runs kubesim in its own process and reads the count here.
        if path == "/_sim/requests" and method == "GET":
            self._send_json(200, {"total": self.server.sim.requests.total})
            return
        raise ApiError.of(404)

    def _dispatch(self, request: Request, path: str) -> None:
        sim = self.server.sim
        document = discovery_document(sim.registry, path)
        if document is not None:
            if request.method != "GET":
                raise ApiError.of(405)
            self._send_json(200, document)
            return
        route = route_parse(sim.registry, path)
        if not route.name and request.method == "GET" and (route.watch_prefix or request.watch):
            objects_watch(sim, route, request, EventStream(self))
            return
        endpoint = (OBJECT_ENDPOINTS if route.name else COLLECTION_ENDPOINTS).get(request.method)
        if endpoint is None:
            raise ApiError.of(405)
        code, body = endpoint(sim, route, request)
        self._send_json(code, body)

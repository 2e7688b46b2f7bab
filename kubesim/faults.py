"""Fault injection and request accounting for the simulator.

Tests use faults to prove the portal degrades gracefully (403 on one resource,
500 halfway through a paginated list, a slow or vanishing server), and the
request counter to prove that page views are served without touching the API.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from dataclasses import dataclass

from kubesim import status
from kubesim.resources import Registry
from kubesim.routes import request_verb, route_parse
from kubesim.status import ApiError


@dataclass
class Fault:
    """What to do to requests whose path matches.

    `path` is a regular expression matched against the whole path (no query).
    `page=3` matches only the third page of a paginated list; `only_continue`
    matches any request carrying a continue token. The action is a delay (in
    seconds, then the normal answer or the error), dropping the connection
    without an answer, or answering `status` with a realistic Status body.
    `method="GET"` matches only requests of that method (a read that fails while
    writes go through). `rewrite=(old, new)` answers normally but replaces `old` with `new` in the
    JSON text sent: a server or proxy that sends what the real API server never
    would (a lone surrogate escape, a missing uid), for tests of the client.
    """

    path: str
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    times: int | None = None
    only_continue: bool = False
    page: int | None = None
    rewrite: tuple[str, str] | None = None
    method: str | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        if self.status is None and not self.delay and not self.drop and not self.rewrite:
            raise ValueError("a fault needs a status, a delay, drop=True or a rewrite")
        if self.rewrite is not None:
            old, new = self.rewrite
            if not isinstance(old, str) or not isinstance(new, str) or not old:
                raise ValueError("rewrite is (old, new): two strings, old not empty")
            self.rewrite = (old, new)
        self._pattern = re.compile(self.path)

    def matches(self, path: str, has_continue: bool, page: int, method: str = "GET") -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        if self.only_continue and not has_continue:
            return False
        if self.page is not None and self.page != page:
            return False
        return self._pattern.fullmatch(path) is not None


class Faults:
    """The active faults, first match wins; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def take(self, path: str, has_continue: bool, page: int, method: str = "GET") -> Fault | None:
        """The first fault matching this request, counting the hit."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, has_continue, page, method):
                    fault.hits += 1
                    return fault
        return None


class RequestCounter:
    """API requests seen, per (method, path without query); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._counts[(method, path)] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests matching a method and/or an exact path (None matches any)."""
        with self._lock:
            return sum(
                n
                for (m, p), n in self._counts.items()
                if (method is None or m == method) and (path is None or p == path)
            )

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def fault_status(fault: Fault, *, user: str, registry: Registry, method: str, path: str, query: dict) -> dict:
    """The Status body a fault answers with, worded as the real server words that error."""
    route = None
    with contextlib.suppress(ApiError):
        route = route_parse(registry, path)
    resource = route.resource if route else None
    message = None
    if fault.status == 403:
        message = status.forbidden_message(
            user,
            request_verb(method, route, query),
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

"""What a request names and carries: `/api/v1/...` and `/apis/<group>/<version>/...` paths as Routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from kubesim.resources import Registry, Resource
from kubesim.status import ApiError


@dataclass(frozen=True)
class Route:
    """What a resource path names: a collection or an object, maybe a subresource."""

    resource: Resource
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    watch_prefix: bool = False


@dataclass(frozen=True)
class Request:
    """One API request as the endpoints see it (the path is already a Route)."""

    method: str
    query: dict[str, str]
    body: bytes
    content_type: str

    def json(self) -> Any:
        try:
            return orjson.loads(self.body or b"null")
        except orjson.JSONDecodeError as exc:
            raise ApiError.of(400, f"the request body is not valid JSON: {exc}") from None

    @property
    def watch(self) -> bool:
        """`?watch=true`: a list request that streams changes instead."""
        return self.query.get("watch") in ("true", "1")


def route_parse(registry: Registry, path: str) -> Route:
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
    resource = registry.get(group, version, plural)
    if resource is None:
        raise ApiError.of(404)
    if namespace and not resource.namespaced:
        raise ApiError.of(404)
    if name and resource.namespaced and not namespace:
        raise ApiError.of(404)
    if subresource and (subresource != "status" or not resource.status_subresource):
        raise ApiError.of(404)
    return Route(resource, namespace, name, subresource, watch_prefix)


def request_verb(method: str, route: Route | None, query: dict) -> str:
    """The RBAC verb of a request (`get`, `list`, `watch`, `create`, ...), as 403 messages name it."""
    if method == "GET":
        if route and route.name:
            return "get"
        return "watch" if query.get("watch") in ("true", "1") else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())

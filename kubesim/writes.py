"""Writes: create, replace (also of `/status`), and merge or strategic merge patches.

As on the real server, the server owns identity and bookkeeping metadata, a write to
the main resource leaves `.status` alone where a `/status` subresource exists, and a
write to `/status` changes nothing else. Deletes are not served: nothing sends them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubesim import status
from kubesim.patch import merge_patch, strategic_merge_patch
from kubesim.reads import object_served
from kubesim.routes import Request, Route
from kubesim.status import ApiError

if TYPE_CHECKING:
    from kubesim.server import Simulator

# The official client sends a dict body as a strategic merge patch; the portal sends merge patches.
PATCHES = {
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
}

# Keys the server owns on create; a client cannot choose them.
_SERVER_OWNED_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "managedFields",
)


def _object_body(route: Route, request: Request) -> dict:
    body = request.json()
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


def object_create(sim: Simulator, route: Route, request: Request) -> tuple[int, dict]:
    if route.resource.namespaced and not route.namespace:
        raise ApiError.of(405)
    store = sim.store
    if route.namespace and store.peek("namespaces", None, route.namespace) is None:
        raise ApiError.of(
            404,
            f'namespaces "{route.namespace}" not found',
            details=status.details(store.resource("namespaces"), route.namespace),
        )
    body = _object_body(route, request)
    for key in _SERVER_OWNED_METADATA:
        body["metadata"].pop(key, None)
    if route.resource.status_subresource:
        # Status belongs to controllers; a create starts with none (a pod, Pending).
        body["status"] = {"phase": "Pending"} if route.resource.plural == "pods" else {}
    created = store.create(body, resource=route.resource)
    return 201, object_served(route.resource, created)


def object_replace(sim: Simulator, route: Route, request: Request) -> tuple[int, dict]:
    body = _object_body(route, request)
    name = body["metadata"].get("name")
    if name != route.name:
        raise ApiError.of(
            400,
            f"the name of the object ({name}) does not match the name on the URL ({route.name})",
        )
    on_status = route.subresource == "status"
    stored = sim.store.replace(
        body,
        resource=route.resource,
        keep_status=route.resource.status_subresource and not on_status,
        status_only=on_status,
    )
    return 200, object_served(route.resource, stored)


def object_patch(sim: Simulator, route: Route, request: Request) -> tuple[int, dict]:
    # JSON patch and server-side apply are not served: nothing here sends them.
    merge = PATCHES.get(request.content_type)
    if merge is None:
        raise ApiError.of(415)
    patch = request.json()
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
    stored = sim.store.update(
        route.resource,
        route.namespace or None,
        route.name,
        change,
        keep_status=route.resource.status_subresource and not on_status,
        status_only=on_status,
    )
    return 200, object_served(route.resource, stored)

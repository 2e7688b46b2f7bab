"""Put the same objects into any API server (kubesim or the real one), over HTTP.

Objects keep their names; the server assigns new uids, so owner references
and events are rewritten to the uids the server gave their targets, in
dependency order. Statuses are written through the status subresource, as
controllers would (none run here).
"""

from __future__ import annotations

import copy

import orjson

from kubesim.flux import register_flux
from kubesim.resources import default_registry

_REGISTRY = default_registry()
register_flux(_REGISTRY)

# Owners before what they own.
ORDER = [
    "Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "StatefulSet",
    "DaemonSet", "CronJob", "ReplicaSet", "Job", "Pod", "PodDisruptionBudget", "Event",
    "GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Kustomization", "HelmRelease",
    "ImageRepository", "ImagePolicy", "ImageUpdateAutomation",
]  # fmt: skip
# The kinds whose status is written through the status subresource.
WITH_STATUS = set(ORDER) - {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Event"}


class SeedError(Exception):
    pass


def _call(api, method: str, path: str, body: dict | None = None) -> dict:
    serialized = api.param_serialize(
        method, path, body=body,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(*serialized)
    raw = response.read()
    if response.status >= 300:
        raise SeedError(f"{method} {path}: {response.status} {raw[:500]!r}")
    return orjson.loads(raw)


def _collection(obj: dict) -> str:
    resource = _REGISTRY.for_object(obj)
    prefix = "/api/v1" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    namespace = obj["metadata"].get("namespace")
    if resource.namespaced:
        return f"{prefix}/namespaces/{namespace}/{resource.plural}"
    return f"{prefix}/{resource.plural}"


def seed_objects(api, objects: list[dict]) -> dict[str, str]:
    """Create objects (skipping kinds not in ORDER); returns old uid -> new uid."""
    uids: dict[str, str] = {}
    wanted = sorted((o for o in objects if o.get("kind") in ORDER), key=lambda o: ORDER.index(o["kind"]))
    for original in wanted:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        old_uid = meta.pop("uid", None)
        for key in ("resourceVersion", "creationTimestamp", "generation", "managedFields"):
            meta.pop(key, None)
        for ref in meta.get("ownerReferences") or []:
            ref["uid"] = uids.get(ref["uid"], ref["uid"])
        if obj["kind"] == "Event":
            involved = obj.get("involvedObject") or {}
            if involved.get("uid"):
                involved["uid"] = uids.get(involved["uid"], involved["uid"])
        if obj["kind"] == "Job":
            # The API server derives a Job's selector from its new uid; drop the old one.
            obj["spec"].pop("selector", None)
            labels = obj["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {})
            for key in ("controller-uid", "batch.kubernetes.io/controller-uid"):
                labels.pop(key, None)
        status = obj.pop("status", None)
        created = _call(api, "POST", _collection(obj), obj)
        if old_uid:
            uids[old_uid] = created["metadata"]["uid"]
        if status and obj["kind"] in WITH_STATUS:
            created["status"] = status
            path = f"{_collection(obj)}/{obj['metadata']['name']}/status"
            _call(api, "PUT", path, created)
    return uids

"""API discovery, as far as the portal reads it: the group list and each group version's resources.

The portal finds the Flux kinds and their versions this way (they are never pinned); the
built-in kinds it reads at fixed paths, so the core group's discovery (`/api`) is not served.
"""

from __future__ import annotations

from kubesim.resources import Registry
from kubesim.status import ApiError


def discovery_document(registry: Registry, path: str) -> dict | None:
    """The document `/apis` or `/apis/<group>/<version>` answers with; None for other paths."""
    parts = [p for p in path.split("/") if p]
    if parts == ["apis"]:
        groups = [_group(registry, g) for g in registry.groups()]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
        if not group or version not in registry.versions(group):
            raise ApiError.of(404)
        resources = registry.in_group_version(group, version)
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}",
            "resources": [entry for r in resources for entry in r.discovery_entries()],
        }
    return None


def _group(registry: Registry, group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in registry.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}

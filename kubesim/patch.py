"""JSON merge patch (RFC 7386) and a strategic merge patch.

The official client sends dict bodies as strategic merge patches. The real
server merges lists such as `containers` or `env` item by item (by `name`);
a plain merge patch would replace the whole list, so a patch that sets one
container's image would drop the rest of the pod spec. `strategic_merge_patch`
merges the common keyed lists the way the server does, which covers patches
written by hand; it does not know every field's merge key (the real server
reads them from the Go types), and other lists are replaced.
"""

from __future__ import annotations

from typing import Any

from kubesim.store import clone


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# The patchMergeKey of keyed lists, by field name (the first key present is used,
# since `ports` is keyed by containerPort in a pod and by port in a Service).
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "imagePullSecrets": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
}


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch: a merge patch that merges keyed lists item by item.

    Supports the `$patch: delete` directive on list items and `$patch: replace`
    on maps; other `$` directives (`$setElementOrder`, `$retainKeys`) are ignored.
    """
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return clone({k: v for k, v in patch.items() if k != "$patch"})
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_list(current: list, patch: list, keys: tuple[str, ...]) -> list:
    if not all(isinstance(item, dict) for item in [*current, *patch]):
        return clone(patch)
    merged = list(current)
    for item in patch:
        key = next((k for k in keys if k in item), None)
        if key is None:
            return clone(patch)
        index = next((i for i, c in enumerate(merged) if c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(strategic_merge_patch(None, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged

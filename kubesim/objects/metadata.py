"""What every builder shares: the demo's AWS account, deterministic names and ids, metadata pieces.

Names, hashes, uids and IPs derive from the object names, so the demo looks the
same on every start (and its links survive a restart).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.store import NAME_ALPHABET, timestamp

REGION = "eu-west-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
NODES = (
    "ip-10-0-11-23.eu-west-1.compute.internal",
    "ip-10-0-12-47.eu-west-1.compute.internal",
    "ip-10-0-13-89.eu-west-1.compute.internal",
)


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def name_hash(*parts: object, length: int = 10) -> str:
    """A suffix like Kubernetes generates (`7d9f8b6c5d`), stable for the same parts."""
    digest = _digest(*parts)
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:length])


def stable_uid(*parts: object) -> str:
    """A version-4-shaped uid, stable for the same parts (so demo links survive restarts)."""
    return str(uuid.UUID(bytes=_digest("uid", *parts)[:16], version=4))


def digest_hex(*parts: object, length: int = 64) -> str:
    """Hex digits standing in for an image digest or a container id, stable for the same parts."""
    return _digest(*parts).hex()[:length]


def stable_ip(*parts: object, prefix: str = "10.0") -> str:
    """A private IP in `prefix`, stable for the same parts."""
    digest = _digest("ip", *parts)
    return f"{prefix}.{10 + digest[0] % 20}.{1 + digest[1] % 250}"


def node_ip(node: str) -> str:
    """The private IP EKS encodes in the node name (`ip-10-0-11-23...` is 10.0.11.23)."""
    return node.split(".")[0].removeprefix("ip-").replace("-", ".")


def ago(now: datetime | None, **delta: float) -> str:
    """The timestamp `delta` before `now` (or before the present)."""
    return timestamp((now or datetime.now(UTC)) - timedelta(**delta))


def condition(type_: str, status: bool, when: str, reason: str = "", message: str = "") -> dict:
    """A pod-style status condition (with lastProbeTime)."""
    result: dict[str, Any] = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": when,
    }
    if reason:
        result["reason"] = reason
    if message:
        result["message"] = message
    return result


def owner_reference(obj: dict, *, controller: bool = True) -> dict:
    """The ownerReferences entry pointing at `obj`."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def object_meta(kind: str, namespace: str, name: str, labels: dict, created: datetime) -> dict:
    """A workload's metadata: stable uid, creation time, generation 1, labels."""
    return {
        "name": name,
        "namespace": namespace,
        "uid": stable_uid(kind, namespace, name),
        "creationTimestamp": timestamp(created),
        "generation": 1,
        "labels": dict(labels),
    }

"""Core kinds besides pods: namespaces, nodes, service accounts, services, config maps, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.objects.metadata import ACCOUNT, REGION, ago, digest_hex, node_ip, stable_ip, stable_uid
from kubesim.store import timestamp


def namespace(name: str, labels: dict[str, str] | None = None, *, created: datetime | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": stable_uid("Namespace", name),
            "creationTimestamp": timestamp(created) if created else ago(None, days=90),
            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node(name: str, *, instance_type: str = "m6i.xlarge", zone: str = f"{REGION}a") -> dict:
    ip = node_ip(name)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": stable_uid("Node", name),
            "creationTimestamp": ago(None, days=9),
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": instance_type,
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": zone,
                "eks.amazonaws.com/nodegroup": "general",
            },
        },
        "spec": {"providerID": f"aws:///{zone}/i-0{digest_hex(name, length=16)}"},
        "status": {
            "capacity": {"cpu": "4", "memory": "15896812Ki", "pods": "58"},
            "allocatable": {"cpu": "3920m", "memory": "14879980Ki", "pods": "58"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": ago(None, seconds=20),
                    "lastTransitionTime": ago(None, days=9),
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.31.0-eks-a737599",
                "containerRuntimeVersion": "containerd://1.7.22",
                "osImage": "Amazon Linux 2023.5.20240916",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


def serviceaccount(namespace: str, name: str, annotations: dict[str, str] | None = None) -> dict:
    """A service account, e.g. with `eks.amazonaws.com/role-arn` for IRSA."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": stable_uid("ServiceAccount", namespace, name),
        "creationTimestamp": ago(None, days=60),
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def service(
    namespace: str, name: str, selector: dict[str, str], *, port: int = 80, target: str = "http"
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": stable_uid("Service", namespace, name),
            "creationTimestamp": ago(None, days=60),
            "labels": dict(selector),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
            "clusterIP": stable_ip(namespace, name, prefix="172.20"),
            "clusterIPs": [stable_ip(namespace, name, prefix="172.20")],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


def configmap(namespace: str, name: str, data: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": stable_uid("ConfigMap", namespace, name),
            "creationTimestamp": ago(None, days=30),
        },
        "data": dict(data),
    }


def event(
    obj: dict,
    reason: str,
    message: str,
    *,
    type_: str = "Normal",
    count: int = 1,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    component: str = "kubelet",
    field_path: str | None = None,
) -> dict:
    """A core/v1 Event about `obj`, as the kubelet or a controller records it."""
    last = last_seen or datetime.now(UTC) - timedelta(seconds=30)
    first = first_seen or last - timedelta(minutes=5 * max(count - 1, 0))
    meta = obj["metadata"]
    namespace = meta.get("namespace", "default")
    host = obj.get("spec", {}).get("nodeName") if component == "kubelet" else None
    involved: dict[str, Any] = {
        "kind": obj["kind"],
        "namespace": namespace,
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": obj["apiVersion"],
    }
    if field_path:
        involved["fieldPath"] = field_path
    source: dict[str, str] = {"component": component}
    if host:
        source["host"] = host
    name = f"{meta['name']}.{digest_hex(meta['uid'], reason, length=16)}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": stable_uid("Event", namespace, name),
            "creationTimestamp": timestamp(first),
        },
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": timestamp(first),
        "lastTimestamp": timestamp(last),
        "count": count,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }


def warning_event(obj: dict, reason: str, message: str, **kwargs: Any) -> dict:
    """A Warning event (BackOff, Failed, FailedScheduling, OOMKilling...) about `obj`."""
    return event(obj, reason, message, type_="Warning", **kwargs)

"""Workloads and what they own: Deployments and ReplicaSets, StatefulSets, DaemonSets; PDBs.

Statuses are computed from the pods as the controllers compute them, so they never disagree.

Deployments carry `kubectl.kubernetes.io/last-applied-configuration` (which repeats
env values), so tests can prove the portal drops it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.objects.metadata import NODES, ago, name_hash, object_meta, owner_reference
from kubesim.objects.pods import container, is_ready, pod, pod_template_spec
from kubesim.store import timestamp


@dataclass
class Workload:
    """A controller with the objects it owns (replica sets, pods) in creation order."""

    controller: dict
    pods: list[dict]
    replicasets: list[dict] = field(default_factory=list)

    def refresh(self) -> Workload:
        """Recompute the controller's status from its pods, so they never disagree."""
        kind = self.controller["kind"]
        if kind == "Deployment":
            for rs in self.replicasets:
                rs["status"] = replicaset_status(rs, owned_pods(rs, self.pods))
            self.controller["status"] = deployment_status(self.controller, self.replicasets, self.pods)
        elif kind == "StatefulSet":
            self.controller["status"] = statefulset_status(self.controller, self.pods)
        elif kind == "DaemonSet":
            self.controller["status"] = daemonset_status(self.controller, self.pods)
        return self

    def objects(self) -> list[dict]:
        """Everything to store, after `refresh()` so the statuses match the pods."""
        self.refresh()
        return [self.controller, *self.replicasets, *self.pods]


def owned_pods(owner: dict, pods: Iterable[dict]) -> list[dict]:
    uid = owner["metadata"]["uid"]
    return [p for p in pods if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences", []))]


def _last_applied(obj: dict) -> str:
    """What `kubectl apply` leaves behind: the manifest as applied, env values included."""
    meta = obj["metadata"]
    manifest = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {
            "annotations": {},
            "labels": meta.get("labels", {}),
            "name": meta["name"],
            "namespace": meta["namespace"],
        },
        "spec": obj["spec"],
    }
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True) + "\n"


def _template(labels: dict[str, str], containers: list[dict], service_account: str) -> dict:
    """A workload's pod template: its labels, and a pod spec running `containers`."""
    return {
        "metadata": {"labels": dict(labels)},
        "spec": pod_template_spec(containers, service_account=service_account),
    }


def deployment(
    namespace: str,
    name: str,
    image: str,
    replicas: int = 1,
    labels: dict[str, str] | None = None,
    *,
    containers: list[dict] | None = None,
    service_account: str = "default",
    role_arn: str | None = None,
    revision: int = 1,
    created: datetime | None = None,
    started: datetime | None = None,
    nodes: tuple[str, ...] = NODES,
) -> Workload:
    """A Deployment with its ReplicaSet and healthy pods, ownerReferences linked by uid."""
    now = datetime.now(UTC)
    created = created or now - timedelta(days=12)
    labels = dict(labels or {"app": name})
    containers = containers or [container(name, image)]
    template = _template(labels, containers, service_account)
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta("Deployment", namespace, name, labels, created),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": template,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }
    dep["metadata"]["annotations"] = {
        "deployment.kubernetes.io/revision": str(revision),
        "kubectl.kubernetes.io/last-applied-configuration": _last_applied(dep),
    }
    rs = replicaset_for(dep, revision=revision, replicas=replicas, created=started or created)
    pods = [
        pod_for(rs, index=i, node=nodes[i % len(nodes)], role_arn=role_arn, started=started)
        for i in range(replicas)
    ]
    return Workload(dep, pods, [rs])


def template_hash(template: dict) -> str:
    """The `pod-template-hash` label value for a pod template."""
    return name_hash(json.dumps(template, sort_keys=True))


def replicaset_for(dep: dict, *, revision: int, replicas: int, created: datetime | None = None) -> dict:
    """The ReplicaSet a Deployment controller creates for its current template."""
    meta = dep["metadata"]
    template = json.loads(json.dumps(dep["spec"]["template"]))
    pod_hash = template_hash(dep["spec"]["template"])
    labels = {**template["metadata"].get("labels", {}), "pod-template-hash": pod_hash}
    template["metadata"]["labels"] = labels
    name = f"{meta['name']}-{pod_hash}"
    rs_meta = object_meta("ReplicaSet", meta["namespace"], name, labels, created or datetime.now(UTC))
    rs_meta["annotations"] = {
        "deployment.kubernetes.io/desired-replicas": str(dep["spec"]["replicas"]),
        "deployment.kubernetes.io/max-replicas": str(dep["spec"]["replicas"] + 1),
        "deployment.kubernetes.io/revision": str(revision),
    }
    rs_meta["ownerReferences"] = [owner_reference(dep)]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": rs_meta,
        "spec": {
            "replicas": replicas,
            "selector": {
                "matchLabels": {
                    **dep["spec"]["selector"]["matchLabels"],
                    "pod-template-hash": pod_hash,
                }
            },
            "template": template,
        },
        "status": {"replicas": 0},
    }


def pod_for(
    rs: dict,
    *,
    index: int,
    node: str | None = NODES[0],
    role_arn: str | None = None,
    started: datetime | None = None,
    salt: object = "",
) -> dict:
    """A healthy pod of a ReplicaSet, named `<rs>-<5 chars>`."""
    meta = rs["metadata"]
    name = f"{meta['name']}-{name_hash(meta['name'], index, salt, length=5)}"
    return pod(
        meta["namespace"],
        name,
        rs["spec"]["template"]["spec"],
        labels=rs["spec"]["template"]["metadata"]["labels"],
        owner=rs,
        node=node,
        role_arn=role_arn,
        started=started,
    )


def replicaset_status(rs: dict, pods: list[dict]) -> dict:
    ready = sum(1 for p in pods if is_ready(p))
    status: dict[str, Any] = {
        "replicas": len(pods),
        "fullyLabeledReplicas": len(pods),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if not pods:
        del status["fullyLabeledReplicas"]
    return status


def deployment_status(dep: dict, replicasets: list[dict], pods: list[dict]) -> dict:
    """Status as the Deployment controller computes it; the last ReplicaSet is the new one."""
    desired = dep["spec"]["replicas"]
    new_rs = replicasets[-1] if replicasets else None
    updated = owned_pods(new_rs, pods) if new_rs else []
    ready = sum(1 for p in pods if is_ready(p))
    # maxUnavailable 25% rounds down, so small deployments need every pod.
    min_available = desired - (desired * 25) // 100
    available = ready >= min_available
    when = dep["metadata"]["creationTimestamp"]
    now = timestamp()
    rs_name = new_rs["metadata"]["name"] if new_rs else dep["metadata"]["name"]
    complete = len(updated) == desired == len(pods) and all(is_ready(p) for p in updated)
    status: dict[str, Any] = {
        "observedGeneration": dep["metadata"].get("generation", 1),
        "replicas": len(pods),
        "updatedReplicas": len(updated),
    }
    if ready:
        status["readyReplicas"] = ready
        status["availableReplicas"] = ready
    if len(pods) - ready > 0:
        status["unavailableReplicas"] = len(pods) - ready
    status["conditions"] = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "lastUpdateTime": now if not available else when,
            "lastTransitionTime": now if not available else when,
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "lastUpdateTime": now,
            "lastTransitionTime": when,
            "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
            if complete
            else f'ReplicaSet "{rs_name}" is progressing.',
        },
    ]
    return status


def statefulset(
    namespace: str,
    name: str,
    image: str,
    replicas: int = 1,
    labels: dict[str, str] | None = None,
    *,
    containers: list[dict] | None = None,
    service_account: str = "default",
    storage: str = "10Gi",
    created: datetime | None = None,
    nodes: tuple[str, ...] = NODES,
) -> Workload:
    """A StatefulSet with ordinal pods (`<name>-0`...) and a volume claim template."""
    created = created or datetime.now(UTC) - timedelta(days=30)
    labels = dict(labels or {"app": name})
    containers = containers or [container(name, image)]
    for c in containers:
        c.setdefault("volumeMounts", []).append({"name": "data", "mountPath": "/var/lib/data"})
    template = _template(labels, containers, service_account)
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta("StatefulSet", namespace, name, labels, created),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": dict(labels)},
            "template": template,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "gp3",
                        "resources": {"requests": {"storage": storage}},
                        "volumeMode": "Filesystem",
                    },
                    "status": {"phase": "Pending"},
                }
            ],
        },
        "status": {},
    }
    revision = f"{name}-{template_hash(template)}"
    pods = []
    for i in range(replicas):
        pod_spec = json.loads(json.dumps(template["spec"]))
        pod_spec["hostname"] = f"{name}-{i}"
        pod_spec["subdomain"] = name
        pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{name}-{i}"}}]
        pod_labels = {
            **labels,
            "apps.kubernetes.io/pod-index": str(i),
            "controller-revision-hash": revision,
            "statefulset.kubernetes.io/pod-name": f"{name}-{i}",
        }
        pods.append(
            pod(
                namespace,
                f"{name}-{i}",
                pod_spec,
                labels=pod_labels,
                owner=sts,
                node=nodes[i % len(nodes)],
            )
        )
    return Workload(sts, pods)


def statefulset_status(sts: dict, pods: list[dict]) -> dict:
    ready = sum(1 for p in pods if is_ready(p))
    revision = (pods[0]["metadata"]["labels"].get("controller-revision-hash") if pods else "") or ""
    return {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(pods),
        "readyReplicas": ready,
        "currentReplicas": len(pods),
        "updatedReplicas": len(pods),
        "availableReplicas": ready,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def daemonset(
    namespace: str,
    name: str,
    image: str,
    labels: dict[str, str] | None = None,
    *,
    containers: list[dict] | None = None,
    service_account: str = "default",
    nodes: tuple[str, ...] = NODES,
    created: datetime | None = None,
) -> Workload:
    """A DaemonSet with one pod per node, pinned there by node affinity."""
    created = created or datetime.now(UTC) - timedelta(days=9)
    labels = dict(labels or {"app": name})
    containers = containers or [container(name, image, port=None)]
    template = _template(labels, containers, service_account)
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": object_meta("DaemonSet", namespace, name, labels, created),
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "template": template,
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
        },
        "status": {},
    }
    revision = name_hash(json.dumps(template, sort_keys=True))
    pods = []
    for node_name in nodes:
        pod_spec = json.loads(json.dumps(template["spec"]))
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
                    ]
                }
            }
        }
        pod_labels = {
            **labels,
            "controller-revision-hash": revision,
            "pod-template-generation": "1",
        }
        pod_name = f"{name}-{name_hash(name, node_name, length=5)}"
        pods.append(pod(namespace, pod_name, pod_spec, labels=pod_labels, owner=ds, node=node_name))
    return Workload(ds, pods)


def daemonset_status(ds: dict, pods: list[dict]) -> dict:
    ready = sum(1 for p in pods if is_ready(p))
    status = {
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": len(pods),
        "currentNumberScheduled": len(pods),
        "updatedNumberScheduled": len(pods),
        "numberReady": ready,
        "numberAvailable": ready,
        "numberMisscheduled": 0,
    }
    if len(pods) > ready:
        status["numberUnavailable"] = len(pods) - ready
    return status


def pdb(
    namespace: str,
    name: str,
    selector: dict[str, str],
    *,
    min_available: int | str | None = None,
    max_unavailable: int | str | None = None,
    expected: int = 0,
    healthy: int = 0,
) -> dict:
    """A PodDisruptionBudget whose status reflects `expected` and `healthy` pods."""
    spec: dict[str, Any] = {"selector": {"matchLabels": dict(selector)}}
    if min_available is not None:
        spec["minAvailable"] = min_available
        desired = min_available if isinstance(min_available, int) else expected
    else:
        spec["maxUnavailable"] = 1 if max_unavailable is None else max_unavailable
        unavailable = spec["maxUnavailable"] if isinstance(spec["maxUnavailable"], int) else 1
        desired = max(expected - unavailable, 0)
    allowed = max(healthy - desired, 0)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(
            "PodDisruptionBudget", namespace, name, selector, datetime.now(UTC) - timedelta(days=20)
        ),
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [
                {
                    "type": "DisruptionAllowed",
                    "status": "True" if allowed else "False",
                    "reason": "SufficientPods" if allowed else "InsufficientPods",
                    "message": "",
                    "observedGeneration": 1,
                    "lastTransitionTime": ago(None, days=1),
                }
            ],
        },
    }

"""A large cluster, built fast, for benchmarks: `seed_scale` (10,000 pods by default).

Objects are built directly and handed to `Store.load` without copying; every pod of
a deployment shares one spec dict, which is safe because the store never mutates
what it holds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kubesim import objects as o
from kubesim.store import Store, timestamp


def seed_scale(store: Store, pods: int = 10_000, namespaces: int = 500, deployments: int = 2_000) -> None:
    """Fill a store with `pods` pods of `deployments` Deployments in `namespaces` team namespaces."""
    created = timestamp(datetime.now(UTC) - timedelta(days=3))
    objects: list[dict] = []
    ns_names = [f"scale-{i:04d}" for i in range(namespaces)]
    for i, name in enumerate(ns_names):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": created,
                    "labels": {"kubernetes.io/metadata.name": name, "team": f"team-{i % 100:02d}"},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        )
    per_deployment, extra = divmod(pods, max(deployments, 1))
    for d in range(deployments):
        ns = ns_names[d % len(ns_names)]
        app = f"app-{d:05d}"
        image = f"{o.REGISTRY}/scale/{app}:v1.0.{d % 7}"
        labels = {"app": app}
        template_spec = o.pod_template_spec([o.container(app, image)])
        pod_hash = o.name_hash(app, image)
        pod_labels = {**labels, "pod-template-hash": pod_hash}
        dep_uid, rs_uid = str(uuid.uuid4()), str(uuid.uuid4())
        count = per_deployment + (1 if d < extra else 0)
        ready = {"readyReplicas": count, "availableReplicas": count} if count else {}
        dep = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": app,
                "namespace": ns,
                "uid": dep_uid,
                "creationTimestamp": created,
                "generation": 1,
                "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": "1"},
            },
            "spec": {
                "replicas": count,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": template_spec},
                "strategy": {"type": "RollingUpdate"},
            },
            "status": {
                "observedGeneration": 1,
                "replicas": count,
                "updatedReplicas": count,
                **ready,
            },
        }
        rs_name = f"{app}-{pod_hash}"
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "uid": rs_uid,
                "creationTimestamp": created,
                "generation": 1,
                "labels": pod_labels,
                "ownerReferences": [_ref("apps/v1", "Deployment", app, dep_uid)],
            },
            "spec": {
                "replicas": count,
                "selector": {"matchLabels": pod_labels},
                "template": {"metadata": {"labels": pod_labels}, "spec": template_spec},
            },
            "status": {"replicas": count, "observedGeneration": 1, **ready},
        }
        objects += [dep, rs]
        owner = [_ref("apps/v1", "ReplicaSet", rs_name, rs_uid)]
        for p in range(count):
            objects.append(
                _scale_pod(
                    ns,
                    f"{rs_name}-{p:05d}",
                    pod_labels,
                    owner,
                    template_spec,
                    image,
                    created,
                    d + p,
                )
            )
    store.load(objects)


def _ref(api_version: str, kind: str, name: str, uid: str) -> dict:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _scale_pod(
    ns: str, name: str, labels: dict, owner: list, spec: dict, image: str, created: str, n: int
) -> dict:
    node = o.NODES[n % len(o.NODES)]
    ready = {
        "type": "Ready",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": created,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": owner,
        },
        "spec": {**spec, "nodeName": node},
        "status": {
            "phase": "Running",
            "conditions": [ready],
            "hostIP": o.node_ip(node),
            "podIP": f"10.1.{n // 250 % 250}.{n % 250 + 1}",
            "startTime": created,
            "containerStatuses": [
                {
                    "name": spec["containers"][0]["name"],
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "image": image,
                    "imageID": "",
                    "state": {"running": {"startedAt": created}},
                    "lastState": {},
                }
            ],
            "qosClass": "Burstable",
        },
    }

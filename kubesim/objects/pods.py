"""Containers, pod specs and pods, and the states a pod can be put in (`crashloop` and friends).

Pods carry what the portal must cope with and never store: an env value
(`DATABASE_PASSWORD` = DEMO_SECRET). The state helpers edit the pod they are
given and return it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.objects.metadata import (
    NODES,
    REGION,
    condition,
    digest_hex,
    name_hash,
    node_ip,
    owner_reference,
    stable_ip,
    stable_uid,
)
from kubesim.store import timestamp

# The value tests look for to prove the portal never stores env values.
DEMO_SECRET = "demo-db-password-must-never-be-stored"
UNSCHEDULABLE_MESSAGE = "0/3 nodes are available: 3 Insufficient memory."
CONTROLLER_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
IRSA_TOKEN_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


def container(
    name: str,
    image: str,
    *,
    port: int | None = 8080,
    env: dict[str, str] | None = None,
    cpu: str = "250m",
    memory: str = "256Mi",
    memory_limit: str = "512Mi",
    probes: bool = True,
    pre_stop: str = "sleep",
) -> dict:
    """A container spec as teams write them: env (with a secret), resources, probes, preStop."""
    variables = [
        {"name": "DATABASE_PASSWORD", "value": DEMO_SECRET},
        {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": f"{name}-db", "key": "url"}},
        },
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        {"name": "AWS_REGION", "value": REGION},
        {"name": "LOG_LEVEL", "value": "info"},
        {
            "name": "POD_NAME",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        },
    ]
    variables += [{"name": k, "value": v} for k, v in (env or {}).items()]
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": variables,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"memory": memory_limit},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if port:
        spec["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    if probes and port:
        spec["readinessProbe"] = _http_probe("/readyz", failure_threshold=3)
        spec["livenessProbe"] = _http_probe("/livez", failure_threshold=6, initial_delay=15)
    if pre_stop == "sleep":
        spec["lifecycle"] = {"preStop": {"sleep": {"seconds": 10}}}
    elif pre_stop == "exec":
        spec["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 15"]}}}
    return spec


def _http_probe(path: str, *, failure_threshold: int, initial_delay: int = 5) -> dict:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": failure_threshold,
    }


def pod_template_spec(
    containers: list[dict],
    *,
    service_account: str = "default",
    restart_policy: str = "Always",
    grace_period: int = 30,
) -> dict:
    """The pod spec inside a workload's template (before admission adds its defaults)."""
    return {
        "containers": containers,
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": grace_period,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": service_account,
        "securityContext": {"runAsNonRoot": True, "fsGroup": 65532},
        "schedulerName": "default-scheduler",
    }


def _admitted_spec(template_spec: dict, pod_name: str, node: str | None, role_arn: str | None) -> dict:
    """The spec a pod gets after admission: token volume, tolerations, IRSA env, node."""
    spec = json.loads(json.dumps(template_spec))
    token_volume = f"kube-api-access-{name_hash(pod_name, 'vol', length=5)}"
    volumes = list(spec.get("volumes", []))
    volumes.append(
        {
            "name": token_volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    if role_arn:
        volumes.append(
            {
                "name": "aws-iam-token",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": "sts.amazonaws.com",
                                "expirationSeconds": 86400,
                                "path": "token",
                            }
                        }
                    ],
                },
            }
        )
    for c in spec["containers"]:
        mounts = c.setdefault("volumeMounts", [])
        mounts.append({"name": token_volume, "mountPath": CONTROLLER_PATH, "readOnly": True})
        if role_arn:
            # What the EKS pod identity webhook injects for IRSA.
            c["env"] = c.get("env", []) + [
                {"name": "AWS_ROLE_ARN", "value": role_arn},
                {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": f"{IRSA_TOKEN_PATH}/token"},
            ]
            mounts.append({"name": "aws-iam-token", "mountPath": IRSA_TOKEN_PATH, "readOnly": True})
    spec["volumes"] = volumes
    spec["serviceAccount"] = spec.get("serviceAccountName", "default")
    spec["enableServiceLinks"] = True
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    spec["priority"] = 0
    spec["tolerations"] = [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    if node:
        spec["nodeName"] = node
    return spec


def pod(
    namespace: str,
    name: str,
    template_spec: dict,
    *,
    labels: dict[str, str] | None = None,
    owner: dict | None = None,
    node: str | None = NODES[0],
    role_arn: str | None = None,
    started: datetime | None = None,
) -> dict:
    """A scheduled, healthy running pod (change its state with `crashloop` and friends)."""
    created = started or datetime.now(UTC) - timedelta(days=2)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": stable_uid("Pod", namespace, name),
        "creationTimestamp": timestamp(created),
        "labels": dict(labels or {}),
    }
    if owner is not None:
        if owner["kind"] != "StatefulSet":
            # Controllers other than StatefulSets name pods from a prefix.
            metadata["generateName"] = name[: name.rfind("-") + 1]
        metadata["ownerReferences"] = [owner_reference(owner)]
    result = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": _admitted_spec(template_spec, name, node, role_arn),
        "status": {},
    }
    return running(result, started=created)


def _pod_ready(pod: dict, ready: bool, when: str, unready: list[str]) -> None:
    message = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    reason = "ContainersNotReady" if unready else ""
    conditions = pod["status"]["conditions"]
    for i, c in enumerate(conditions):
        if c["type"] in ("Ready", "ContainersReady"):
            conditions[i] = condition(c["type"], ready, when, reason, message)


def running(pod: dict, *, started: datetime | None = None) -> dict:
    """Put a pod into a healthy Running state on a node, every container ready."""
    started = started or datetime.now(UTC) - timedelta(hours=6)
    when = timestamp(started + timedelta(seconds=8))
    spec = pod["spec"]
    node = spec.setdefault("nodeName", NODES[0])
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    host, pod_ip = node_ip(node), stable_ip(ns, name)
    statuses = []
    for c in spec["containers"]:
        statuses.append(
            {
                "name": c["name"],
                "state": {"running": {"startedAt": timestamp(started + timedelta(seconds=3))}},
                "lastState": {},
                "ready": True,
                "restartCount": 0,
                "image": c["image"],
                "imageID": f"{c['image'].rsplit(':', 1)[0]}@sha256:{digest_hex(c['image'])}",
                "containerID": f"containerd://{digest_hex(ns, name, c['name'])}",
                "started": True,
            }
        )
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers", True, when),
            condition("Initialized", True, timestamp(started)),
            condition("Ready", True, when),
            condition("ContainersReady", True, when),
            condition("PodScheduled", True, timestamp(started)),
        ],
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": timestamp(started),
        "containerStatuses": statuses,
        "qosClass": "Burstable",
    }
    return pod


def _container_status(pod: dict) -> dict:
    """The status of the pod's first container, the one the state helpers change."""
    return pod["status"]["containerStatuses"][0]


def backoff_text(restarts: int) -> str:
    """The kubelet's back-off delay after `restarts` crashes, as a Go duration."""
    seconds = min(10 * 2 ** max(restarts - 1, 0), 300)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def crashloop(
    pod: dict,
    restarts: int = 5,
    *,
    exit_code: int = 1,
    reason: str = "Error",
    now: datetime | None = None,
) -> dict:
    """The container keeps exiting: waiting in CrashLoopBackOff, last terminated with an error."""
    now = now or datetime.now(UTC)
    status = _container_status(pod)
    meta = pod["metadata"]
    status.update(
        ready=False,
        started=False,
        restartCount=restarts,
        state={
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": (
                    f"back-off {backoff_text(restarts)} restarting failed container="
                    f"{status['name']} pod={meta['name']}_{meta['namespace']}({meta['uid']})"
                ),
            }
        },
        lastState={
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": timestamp(now - timedelta(seconds=45)),
                "finishedAt": timestamp(now - timedelta(seconds=12)),
                "containerID": status.get("containerID", ""),
            }
        },
    )
    pod["status"]["phase"] = "Running"
    _pod_ready(pod, False, timestamp(now - timedelta(seconds=12)), [status["name"]])
    return pod


def restarted(pod: dict, *, now: datetime | None = None) -> dict:
    """A crashing container just came back up (running, not yet ready), one restart more."""
    now = now or datetime.now(UTC)
    status = _container_status(pod)
    status["restartCount"] = status.get("restartCount", 0) + 1
    status["state"] = {"running": {"startedAt": timestamp(now)}}
    status["started"] = True
    status["ready"] = False
    _pod_ready(pod, False, timestamp(now), [status["name"]])
    return pod


def image_pull_backoff(pod: dict, *, now: datetime | None = None) -> dict:
    """The image cannot be pulled (a bad tag): Pending, waiting in ImagePullBackOff."""
    now = now or datetime.now(UTC)
    status = _container_status(pod)
    image = status["image"]
    status.update(
        ready=False,
        started=False,
        restartCount=0,
        imageID="",
        state={
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": (
                    f'Back-off pulling image "{image}": ErrImagePull: rpc error: code = NotFound '
                    f'desc = failed to pull and unpack image "{image}": failed to resolve '
                    f'reference "{image}": {image}: not found'
                ),
            }
        },
        lastState={},
    )
    status.pop("containerID", None)
    pod["status"]["phase"] = "Pending"
    _pod_ready(pod, False, timestamp(now - timedelta(minutes=20)), [status["name"]])
    return pod


def oom_killed(pod: dict, restarts: int = 3, *, now: datetime | None = None) -> dict:
    """The container was OOMKilled (exit 137) and restarted, and runs again."""
    now = now or datetime.now(UTC)
    status = _container_status(pod)
    status.update(
        ready=True,
        started=True,
        restartCount=restarts,
        state={"running": {"startedAt": timestamp(now - timedelta(minutes=7))}},
        lastState={
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": timestamp(now - timedelta(minutes=52)),
                "finishedAt": timestamp(now - timedelta(minutes=7, seconds=2)),
                "containerID": f"containerd://{digest_hex(status.get('containerID'), restarts)}",
            }
        },
    )
    pod["status"]["phase"] = "Running"
    _pod_ready(pod, True, timestamp(now - timedelta(minutes=6)), [])
    return pod


def pending_unschedulable(
    pod: dict, *, message: str = UNSCHEDULABLE_MESSAGE, now: datetime | None = None
) -> dict:
    """No node has room: Pending, PodScheduled False with reason Unschedulable."""
    now = now or datetime.now(UTC)
    pod["spec"].pop("nodeName", None)
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            condition(
                "PodScheduled",
                False,
                timestamp(now - timedelta(minutes=14)),
                "Unschedulable",
                message,
            )
        ],
        "qosClass": "Burstable",
    }
    return pod


def is_ready(pod: dict) -> bool:
    """Whether the pod counts as ready (and so available) for its controller."""
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )

"""Builders for realistic Kubernetes objects, as a real EKS cluster returns them.

The portal must cope with what real objects carry, including what it must
never store: container env values (`DATABASE_PASSWORD`), and the
`kubectl.kubernetes.io/last-applied-configuration` annotation that repeats
them. Names, hashes, uids and IPs derive from the object names, so the demo
looks the same on every start.

Builders return fresh dicts; the pod state helpers (`crashloop`, ...) edit the
pod they are given and return it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.store import NAME_ALPHABET, timestamp

# The value tests look for to prove the portal never stores env values.
DEMO_SECRET = "demo-db-password-must-never-be-stored"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
NODES = (
    "ip-10-0-11-23.eu-west-1.compute.internal",
    "ip-10-0-12-47.eu-west-1.compute.internal",
    "ip-10-0-13-89.eu-west-1.compute.internal",
)
UNSCHEDULABLE_MESSAGE = "0/3 nodes are available: 3 Insufficient memory."
CONTROLLER_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
IRSA_TOKEN_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


# -- deterministic names and ids --------------------------------------------


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def name_hash(*parts: object, length: int = 10) -> str:
    """A suffix like Kubernetes generates (`7d9f8b6c5d`), stable for the same parts."""
    digest = _digest(*parts)
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:length])


def stable_uid(*parts: object) -> str:
    """A version-4-shaped uid, stable for the same parts (so demo links survive restarts)."""
    return str(uuid.UUID(bytes=_digest("uid", *parts)[:16], version=4))


def _hex(*parts: object, length: int = 64) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _ip(*parts: object, prefix: str = "10.0") -> str:
    digest = _digest("ip", *parts)
    return f"{prefix}.{10 + digest[0] % 20}.{1 + digest[1] % 250}"


def node_ip(node: str) -> str:
    """The private IP EKS encodes in the node name (`ip-10-0-11-23...` is 10.0.11.23)."""
    return node.split(".")[0].removeprefix("ip-").replace("-", ".")


def _ago(now: datetime | None, **delta: float) -> str:
    return timestamp((now or datetime.now(UTC)) - timedelta(**delta))


def _condition(type_: str, status: bool, when: str, reason: str = "", message: str = "") -> dict:
    condition: dict[str, Any] = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": when,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _owner(obj: dict, *, controller: bool = True) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


# -- containers and pods ----------------------------------------------------


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
        metadata["ownerReferences"] = [_owner(owner)]
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
            conditions[i] = _condition(c["type"], ready, when, reason, message)


def running(pod: dict, *, started: datetime | None = None) -> dict:
    """Put a pod into a healthy Running state on a node, every container ready."""
    started = started or datetime.now(UTC) - timedelta(hours=6)
    when = timestamp(started + timedelta(seconds=8))
    spec = pod["spec"]
    node = spec.setdefault("nodeName", NODES[0])
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    host, pod_ip = node_ip(node), _ip(ns, name)
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
                "imageID": f"{c['image'].rsplit(':', 1)[0]}@sha256:{_hex(c['image'])}",
                "containerID": f"containerd://{_hex(ns, name, c['name'])}",
                "started": True,
            }
        )
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            _condition("PodReadyToStartContainers", True, when),
            _condition("Initialized", True, timestamp(started)),
            _condition("Ready", True, when),
            _condition("ContainersReady", True, when),
            _condition("PodScheduled", True, timestamp(started)),
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
                "containerID": f"containerd://{_hex(status.get('containerID'), restarts)}",
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
            _condition(
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


# -- namespaces, nodes, accounts and events -----------------------------------


def namespace(name: str, labels: dict[str, str] | None = None, *, created: datetime | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": stable_uid("Namespace", name),
            "creationTimestamp": timestamp(created) if created else _ago(None, days=90),
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
            "creationTimestamp": _ago(None, days=9),
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
        "spec": {"providerID": f"aws:///{zone}/i-0{_hex(name, length=16)}"},
        "status": {
            "capacity": {"cpu": "4", "memory": "15896812Ki", "pods": "58"},
            "allocatable": {"cpu": "3920m", "memory": "14879980Ki", "pods": "58"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": _ago(None, seconds=20),
                    "lastTransitionTime": _ago(None, days=9),
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
        "creationTimestamp": _ago(None, days=60),
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
            "creationTimestamp": _ago(None, days=60),
            "labels": dict(selector),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}],
            "clusterIP": _ip(namespace, name, prefix="172.20"),
            "clusterIPs": [_ip(namespace, name, prefix="172.20")],
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
            "creationTimestamp": _ago(None, days=30),
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
    name = f"{meta['name']}.{_hex(meta['uid'], reason, length=16)}"
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


# -- workloads ----------------------------------------------------------------


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


def _meta(kind: str, namespace: str, name: str, labels: dict, created: datetime) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "uid": stable_uid(kind, namespace, name),
        "creationTimestamp": timestamp(created),
        "generation": 1,
        "labels": dict(labels),
    }


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
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": pod_template_spec(containers, service_account=service_account),
    }
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("Deployment", namespace, name, labels, created),
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
    rs_meta = _meta("ReplicaSet", meta["namespace"], name, labels, created or datetime.now(UTC))
    rs_meta["annotations"] = {
        "deployment.kubernetes.io/desired-replicas": str(dep["spec"]["replicas"]),
        "deployment.kubernetes.io/max-replicas": str(dep["spec"]["replicas"] + 1),
        "deployment.kubernetes.io/revision": str(revision),
    }
    rs_meta["ownerReferences"] = [_owner(dep)]
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
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": pod_template_spec(containers, service_account=service_account),
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta("StatefulSet", namespace, name, labels, created),
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
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": pod_template_spec(containers, service_account=service_account),
    }
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta("DaemonSet", namespace, name, labels, created),
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


def cronjob(
    namespace: str,
    name: str,
    image: str,
    schedule: str,
    *,
    containers: list[dict] | None = None,
    service_account: str = "default",
    last_schedule: datetime | None = None,
    created: datetime | None = None,
) -> dict:
    """A CronJob; build its runs with `job(..., owner=this)`."""
    created = created or datetime.now(UTC) - timedelta(days=40)
    containers = containers or [container(name, image, port=None, probes=False, pre_stop="")]
    last = last_schedule or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta("CronJob", namespace, name, {"app": name}, created),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {},
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": pod_template_spec(
                            containers, service_account=service_account, restart_policy="Never"
                        ),
                    },
                },
            },
        },
        "status": {
            "lastScheduleTime": timestamp(last),
            "lastSuccessfulTime": timestamp(last + timedelta(minutes=3, seconds=12)),
        },
    }


def job(
    namespace: str,
    name: str,
    image: str = "",
    *,
    owner: dict | None = None,
    containers: list[dict] | None = None,
    started: datetime | None = None,
) -> Workload:
    """A Job and its pod, finished (Complete); from a CronJob when `owner` is one."""
    started = started or datetime.now(UTC) - timedelta(hours=1)
    uid = stable_uid("Job", namespace, name)
    if owner is not None:
        template = json.loads(json.dumps(owner["spec"]["jobTemplate"]["spec"]["template"]))
        backoff = owner["spec"]["jobTemplate"]["spec"].get("backoffLimit", 6)
    else:
        containers = containers or [container(name, image, port=None, probes=False, pre_stop="")]
        template = {
            "metadata": {"labels": {}},
            "spec": pod_template_spec(containers, restart_policy="Never"),
        }
        backoff = 6
    selector = {"batch.kubernetes.io/controller-uid": uid}
    pod_labels = {
        **template["metadata"].get("labels", {}),
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    template["metadata"]["labels"] = pod_labels
    finished = started + timedelta(minutes=3, seconds=12)
    meta = _meta("Job", namespace, name, pod_labels, started)
    meta["uid"] = uid
    if owner is not None:
        meta["ownerReferences"] = [_owner(owner)]
        meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": timestamp(started)}
    # The job controller sets an interim condition, then the final one.
    conditions = [
        {
            "type": type_,
            "status": "True",
            "lastProbeTime": timestamp(finished),
            "lastTransitionTime": timestamp(finished),
        }
        for type_ in ("SuccessCriteriaMet", "Complete")
    ]
    status: dict[str, Any] = {
        "startTime": timestamp(started),
        "terminating": 0,
        "ready": 0,
        "uncountedTerminatedPods": {},
        "conditions": conditions,
        "succeeded": 1,
        "completionTime": timestamp(finished),
    }
    job_obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": backoff,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "manualSelector": False,
            "selector": {"matchLabels": selector},
            "template": template,
        },
        "status": status,
    }
    pod_name = f"{name}-{name_hash(name, 'pod', length=5)}"
    job_pod = pod(namespace, pod_name, template["spec"], labels=pod_labels, owner=job_obj, started=started)
    _finish(job_pod, started, finished)
    return Workload(job_obj, [job_pod])


def _finish(pod: dict, started: datetime, finished: datetime) -> None:
    """A run-to-completion pod that has exited successfully (Completed)."""
    pod["status"]["phase"] = "Succeeded"
    for status in pod["status"]["containerStatuses"]:
        status.update(
            ready=False,
            started=False,
            state={
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": timestamp(started + timedelta(seconds=2)),
                    "finishedAt": timestamp(finished),
                    "containerID": status["containerID"],
                }
            },
        )
    when = timestamp(finished)
    conditions = pod["status"]["conditions"]
    for i, c in enumerate(conditions):
        if c["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
            reason_ = "PodCompleted" if c["type"] != "PodReadyToStartContainers" else ""
            conditions[i] = _condition(c["type"], False, when, reason_)


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
        "metadata": _meta(
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
                    "lastTransitionTime": _ago(None, days=1),
                }
            ],
        },
    }

"""Builders for realistic Kubernetes objects, as a real EKS cluster returns them.

`from kubesim import objects as o` gives every builder: `o.deployment(...)` returns
the Deployment with its ReplicaSet and pods, owner references linked, and
`o.crashloop(pod)` and friends put a pod into a state. The modules hold:
`metadata` (the demo's account, stable names and ids), `pods`, `core` (namespaces,
nodes, accounts, services, config maps, events), `workloads` (controllers, their
statuses, disruption budgets) and `batch` (cron jobs and jobs).

The portal must cope with what real objects carry, including what it must never
store: container env values (`DATABASE_PASSWORD`), and the
`kubectl.kubernetes.io/last-applied-configuration` annotation that repeats them.
Builders return fresh dicts.
"""

from kubesim.objects.batch import cronjob, job
from kubesim.objects.core import (
    configmap,
    event,
    namespace,
    node,
    role_arn,
    service,
    serviceaccount,
    warning_event,
)
from kubesim.objects.metadata import NODES, REGISTRY, name_hash, node_ip
from kubesim.objects.pods import (
    DEMO_SECRET,
    UNSCHEDULABLE_MESSAGE,
    backoff_text,
    container,
    crashloop,
    image_pull_backoff,
    is_ready,
    oom_killed,
    pending_unschedulable,
    pod,
    pod_template_spec,
    restarted,
    running,
)
from kubesim.objects.workloads import (
    Workload,
    daemonset,
    deployment,
    deployment_status,
    owned_pods,
    pdb,
    pod_for,
    replicaset_for,
    replicaset_status,
    statefulset,
)

__all__ = [
    "DEMO_SECRET",
    "NODES",
    "REGISTRY",
    "UNSCHEDULABLE_MESSAGE",
    "Workload",
    "backoff_text",
    "configmap",
    "container",
    "crashloop",
    "cronjob",
    "daemonset",
    "deployment",
    "deployment_status",
    "event",
    "image_pull_backoff",
    "is_ready",
    "job",
    "name_hash",
    "namespace",
    "node",
    "node_ip",
    "oom_killed",
    "owned_pods",
    "pdb",
    "pending_unschedulable",
    "pod",
    "pod_for",
    "pod_template_spec",
    "replicaset_for",
    "replicaset_status",
    "restarted",
    "role_arn",
    "running",
    "service",
    "serviceaccount",
    "statefulset",
    "warning_event",
]

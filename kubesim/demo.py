"""Demo cluster contents: the teams' namespaces, some healthy and some failing workloads.

`seed_demo` fills a store with what the portal's demo users see; `evolve` moves
it along (a crash-looping pod restarts, `search-api` rolls out a new version
now and then, any Deployment whose pod template changed rolls out, and with a
`kubesim.gitops.GitOpsPlayer` Flux applies what was pushed to git) so live
pages visibly change; `seed_scale` builds a large cluster fast for benchmarks.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kubesim import objects as o
from kubesim.flux import flux_demo_objects, reconcile_step, register_flux
from kubesim.store import NotFound, Store, timestamp

if TYPE_CHECKING:
    from kubesim.automation import ImageAutomationPlayer
    from kubesim.gitops import GitOpsPlayer

TEAM_NAMESPACES = {
    "payments": "payments",
    "payments-staging": "payments",
    "search": "search",
}
SYSTEM_NAMESPACES = ("kube-system", "flux-system")
# How often (in ticks) search-api starts a new rollout.
ROLLOUT_EVERY = 12
SEARCH_API_HISTORY = 3


def _image(team: str, app: str, tag: str) -> str:
    return f"{o.REGISTRY}/{team}/{app}:{tag}"


def seed_demo(store: Store) -> None:
    """Create the demo teams' cluster state in an empty store."""
    now = datetime.now(UTC)
    objects: list[dict] = [o.node(name) for name in o.NODES]
    for name, team in TEAM_NAMESPACES.items():
        objects.append(o.namespace(name, {"team": team}))
    objects += [o.namespace(name) for name in SYSTEM_NAMESPACES]
    objects += _payments(now) + _payments_staging() + _search(now) + _kube_system() + _flux_system()
    register_flux(store.registry)
    objects += flux_demo_objects(now)
    for obj in objects:
        store.create(obj)


def _payments(now: datetime) -> list[dict]:
    ns = "payments"
    checkout_role = o.role_arn("payments-checkout-api")
    fraud_role = o.role_arn("payments-fraud-scorer")
    result: list[dict] = [
        o.serviceaccount(ns, "default"),
        o.serviceaccount(ns, "checkout-api", {"eks.amazonaws.com/role-arn": checkout_role}),
        o.serviceaccount(ns, "ledger-worker"),
        # IRSA without the regional STS endpoint: the readiness demo's sts-regional-endpoints finding.
        o.serviceaccount(ns, "fraud-scorer", {"eks.amazonaws.com/role-arn": fraud_role}),
    ]

    checkout = o.deployment(
        ns,
        "checkout-api",
        _image("payments", "checkout-api", "v2.14.3"),
        3,
        service_account="checkout-api",
        role_arn=checkout_role,
    )
    result += checkout.objects()
    result.append(o.service(ns, "checkout-api", {"app": "checkout-api"}))
    result.append(o.pdb(ns, "checkout-api", {"app": "checkout-api"}, min_available=2, expected=3, healthy=3))

    ledger = o.deployment(
        ns,
        "ledger-worker",
        _image("payments", "ledger-worker", "v1.8.0"),
        1,
        service_account="ledger-worker",
        containers=[o.container("ledger-worker", _image("payments", "ledger-worker", "v1.8.0"))],
    )
    crashing = o.crashloop(ledger.pods[0], restarts=17, now=now)
    result += ledger.objects()
    result.append(
        o.warning_event(
            crashing,
            "BackOff",
            f"Back-off restarting failed container ledger-worker in pod "
            f"{crashing['metadata']['name']}_{ns}({crashing['metadata']['uid']})",
            count=17,
            field_path="spec.containers{ledger-worker}",
        )
    )

    fraud_container = o.container(
        "fraud-scorer", _image("payments", "fraud-scorer", "v0.9.2"), memory="384Mi", memory_limit="512Mi"
    )
    fraud_container["env"] = [e for e in fraud_container["env"] if e["name"] != "AWS_STS_REGIONAL_ENDPOINTS"]
    fraud = o.deployment(
        ns,
        "fraud-scorer",
        _image("payments", "fraud-scorer", "v0.9.2"),
        2,
        service_account="fraud-scorer",
        role_arn=fraud_role,
        containers=[fraud_container],
    )
    oom = o.oom_killed(fraud.pods[0], restarts=4, now=now)
    result += fraud.objects()
    result.append(
        o.warning_event(
            oom,
            "OOMKilling",
            "Memory cgroup out of memory: Killed process 2187 (python) total-vm:1843212kB, "
            "anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB, UID:65532 pgtables:1284kB "
            "oom_score_adj:969",
            count=4,
            component="kernel-monitor",
        )
    )

    proxy = o.statefulset(
        ns,
        "payments-db-proxy",
        "public.ecr.aws/bitnami/pgbouncer:1.23.1",
        2,
        containers=[
            o.container("pgbouncer", "public.ecr.aws/bitnami/pgbouncer:1.23.1", port=6432, probes=False)
        ],
    )
    result += proxy.objects()

    report = o.cronjob(
        ns,
        "settlement-report",
        _image("payments", "settlement-report", "v3.2.0"),
        "0 2 * * *",
        last_schedule=now.replace(hour=2, minute=0, second=0, microsecond=0)
        - (timedelta(days=1) if now.hour < 3 else timedelta()),
    )
    run_at = datetime.strptime(report["status"]["lastScheduleTime"], "%Y-%m-%dT%H:%M:%SZ")
    run_at = run_at.replace(tzinfo=UTC)
    run = o.job(
        ns,
        f"settlement-report-{int(run_at.timestamp()) // 60}",
        owner=report,
        started=run_at,
    )
    result += [report, *run.objects()]
    return result


def _payments_staging() -> list[dict]:
    ns = "payments-staging"
    result: list[dict] = [o.serviceaccount(ns, "default")]
    result += o.deployment(
        ns, "checkout-api", _image("payments", "checkout-api", "v2.15.0-rc.1"), 1
    ).objects()
    result += o.deployment(
        ns, "ledger-worker", _image("payments", "ledger-worker", "v1.9.0-rc.2"), 1
    ).objects()
    return result


def _search(now: datetime) -> list[dict]:
    ns = "search"
    result: list[dict] = [o.serviceaccount(ns, "default"), o.serviceaccount(ns, "search-api")]

    api = o.deployment(
        ns, "search-api", _image("search", "search-api", "v1.4.0"), 2, service_account="search-api"
    )
    api.controller["spec"]["revisionHistoryLimit"] = SEARCH_API_HISTORY
    result += api.objects()
    result.append(o.service(ns, "search-api", {"app": "search-api"}))

    bad_image = _image("search", "indexer", "v2.3.1-typo")
    indexer = o.deployment(ns, "indexer", bad_image, 1)
    stuck = o.image_pull_backoff(indexer.pods[0], now=now)
    result += indexer.objects()
    result += [
        o.warning_event(
            stuck,
            "Failed",
            f'Failed to pull image "{bad_image}": rpc error: code = NotFound desc = failed to '
            f'pull and unpack image "{bad_image}": failed to resolve reference "{bad_image}": '
            f"{bad_image}: not found",
            count=9,
            field_path="spec.containers{indexer}",
        ),
        o.warning_event(
            stuck,
            "BackOff",
            f'Back-off pulling image "{bad_image}"',
            count=84,
            field_path="spec.containers{indexer}",
        ),
    ]

    cache = o.deployment(
        ns,
        "query-cache",
        "public.ecr.aws/docker/library/redis:7.4",
        2,
        containers=[
            o.container(
                "redis",
                "public.ecr.aws/docker/library/redis:7.4",
                port=6379,
                probes=False,
                pre_stop="none",  # no preStop hook: the readiness demo's graceful-termination finding
                memory="6Gi",
                memory_limit="6Gi",
            )
        ],
    )
    pending = o.pending_unschedulable(cache.pods[1], now=now)
    result += cache.objects()
    result.append(
        o.warning_event(
            pending,
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are "
            "available: 3 No preemption victims found for incoming pod.",
            count=12,
            component="default-scheduler",
        )
    )
    return result


def _kube_system() -> list[dict]:
    ns = "kube-system"
    eks = "602401143452.dkr.ecr.eu-west-1.amazonaws.com"
    lbc_role = o.role_arn("eks-aws-load-balancer-controller")
    result: list[dict] = [
        o.serviceaccount(ns, "coredns"),
        o.serviceaccount(ns, "aws-load-balancer-controller", {"eks.amazonaws.com/role-arn": lbc_role}),
    ]
    coredns_image = f"{eks}/eks/coredns:v1.11.3-eksbuild.1"
    result += o.deployment(
        ns,
        "coredns",
        coredns_image,
        2,
        {"k8s-app": "kube-dns"},
        containers=[o.container("coredns", coredns_image, port=53, probes=False)],
        service_account="coredns",
    ).objects()
    lbc_image = "public.ecr.aws/eks/aws-load-balancer-controller:v2.8.2"
    result += o.deployment(
        ns,
        "aws-load-balancer-controller",
        lbc_image,
        2,
        {"app.kubernetes.io/name": "aws-load-balancer-controller"},
        containers=[o.container("aws-load-balancer-controller", lbc_image, port=9443)],
        service_account="aws-load-balancer-controller",
        role_arn=lbc_role,
    ).objects()
    result += o.daemonset(
        ns, "aws-node", f"{eks}/amazon-k8s-cni:v1.18.3-eksbuild.2", {"k8s-app": "aws-node"}
    ).objects()
    result += o.daemonset(
        ns, "kube-proxy", f"{eks}/eks/kube-proxy:v1.31.0-eksbuild.2", {"k8s-app": "kube-proxy"}
    ).objects()
    return result


def _flux_system() -> list[dict]:
    ns = "flux-system"
    result: list[dict] = []
    for name, version in (
        ("source-controller", "v1.4.1"),
        ("kustomize-controller", "v1.4.0"),
        ("helm-controller", "v1.1.0"),
        ("notification-controller", "v1.4.0"),
    ):
        image = f"ghcr.io/fluxcd/{name}:{version}"
        result.append(o.serviceaccount(ns, name))
        result += o.deployment(
            ns,
            name,
            image,
            1,
            {"app": name},
            containers=[o.container("manager", image, port=9440)],
            service_account=name,
        ).objects()
    return result


# -- evolution ----------------------------------------------------------------


def evolve(
    store: Store,
    tick: int,
    gitops: GitOpsPlayer | None = None,
    automation: ImageAutomationPlayer | None = None,
) -> None:
    """Advance the demo one step: restart the crash-looping pod, play Flux, roll out.

    With the players, Flux's controllers run first (`flux_step`), so an image they
    set starts rolling out in the same step. Every Deployment whose pod template
    changed (through the API or git) rolls out one pod per step; search-api also
    starts a new version every ROLLOUT_EVERY ticks.
    """
    _crashloop_step(store, tick)
    flux_step(gitops, automation)
    _rollout_step(store, tick)
    reconcile_step(store)


def flux_step(gitops: GitOpsPlayer | None, automation: ImageAutomationPlayer | None = None) -> None:
    """One step of the Flux controllers kubesim plays: image automation, then sources and Kustomizations.

    Automation goes first so that what it pushes is applied in the same step.
    """
    if automation is not None and automation.step() and gitops is not None:
        gitops.sources_refresh()
    if gitops is not None:
        gitops.step()


def _crashloop_step(store: Store, tick: int) -> None:
    pods = [
        p for p in store.list("pods", "payments") if p["metadata"]["labels"].get("app") == "ledger-worker"
    ]
    if not pods:
        return
    pod = pods[0]
    now = datetime.now(UTC)
    if tick % 2:
        o.restarted(pod, now=now)
    else:
        restarts = pod["status"]["containerStatuses"][0]["restartCount"]
        o.crashloop(pod, restarts, now=now)
        _bump_event(store, pod, "BackOff", now)
    store.apply(pod)


def _bump_event(store: Store, pod: dict, reason: str, now: datetime) -> None:
    for event in store.list("events", pod["metadata"]["namespace"]):
        involved = event["involvedObject"]
        if involved.get("uid") == pod["metadata"]["uid"] and event["reason"] == reason:

            def bump(e: dict) -> None:
                e["count"] += 1
                e["lastTimestamp"] = timestamp(now)

            store.update("events", event["metadata"]["namespace"], event["metadata"]["name"], bump)


def _bump_tag(image: str) -> str:
    """`...:v1.4.0` -> `...:v1.4.1`."""
    repo, _, tag = image.rpartition(":")
    match = re.search(r"(\d+)$", tag)
    new_tag = tag[: match.start()] + str(int(match.group(1)) + 1) if match else tag + ".1"
    return f"{repo}:{new_tag}"


@dataclass
class _Rollout:
    """A Deployment's ReplicaSets (oldest revision first) and pods, split new/old."""

    deployment: dict
    replicasets: list[dict]
    new_rs: dict | None
    new_pods: list[dict]
    old_pods: list[dict]


def _rollout_state(store: Store, namespace: str, name: str) -> _Rollout | None:
    dep = store.get("deployments.apps", namespace, name)
    if dep is None:
        return None
    replicasets = [
        rs for rs in store.list("replicasets.apps", namespace) if _owned_by(rs, {dep["metadata"]["uid"]})
    ]
    replicasets.sort(key=_revision)
    current = _plain_template(dep["spec"]["template"])
    new_rs = next(
        (rs for rs in replicasets if _plain_template(rs["spec"]["template"]) == current),
        None,
    )
    rs_uids = {rs["metadata"]["uid"] for rs in replicasets}
    pods = [p for p in store.list("pods", namespace) if _owned_by(p, rs_uids)]
    new_pods = o.owned_pods(new_rs, pods) if new_rs else []
    new_names = {p["metadata"]["name"] for p in new_pods}
    old_pods = [p for p in pods if p["metadata"]["name"] not in new_names]
    return _Rollout(dep, replicasets, new_rs, new_pods, old_pods)


def _plain_template(template: dict) -> dict:
    """A pod template without the `pod-template-hash` label its ReplicaSet adds."""
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k != "pod-template-hash"}
    if labels:
        metadata["labels"] = labels
    else:
        metadata.pop("labels", None)
    return {**template, "metadata": metadata}


def _owned_by(obj: dict, uids: set[str]) -> bool:
    return any(ref.get("uid") in uids for ref in obj["metadata"].get("ownerReferences", []))


def _revision(rs: dict) -> int:
    annotations = rs["metadata"].get("annotations") or {}
    return int(annotations.get("deployment.kubernetes.io/revision", 0))


def _rollout_step(store: Store, tick: int) -> None:
    """One step of every Deployment's rolling update (and now and then a new search-api)."""
    for dep in store.list("deployments.apps"):
        if dep["spec"].get("paused"):
            continue
        meta = dep["metadata"]
        try:
            _rollout_one(store, meta["namespace"], meta["name"], tick)
        except NotFound:
            continue  # deleted through the API meanwhile


def _rollout_one(store: Store, namespace: str, name: str, tick: int) -> None:
    """Surge one new pod, bring up the one started last step, retire one old pod."""
    state = _rollout_state(store, namespace, name)
    if state is None:
        return
    dep, new_rs = state.deployment, state.new_rs
    if new_rs is None:
        # The template changed (here, through the API or from git): start its ReplicaSet.
        _create_replicaset(store, dep, state.replicasets)
        return
    desired = dep["spec"]["replicas"]
    starting = [p for p in state.new_pods if _container_creating(p)]
    if len(state.new_pods) == desired and not state.old_pods and not starting:
        if (namespace, name) == ("search", "search-api") and tick % ROLLOUT_EVERY == 0 and tick > 0:
            _create_replicaset(store, _bump_image(store, dep), state.replicasets)
        return
    if new_rs is not state.replicasets[-1]:
        # Back to an older template (a rollback): its ReplicaSet becomes the newest revision.
        _promote(store, dep, new_rs, state.replicasets)
        state = _rollout_state(store, namespace, name)
        if state is None or state.new_rs is None:
            return
        new_rs = state.new_rs

    started = datetime.now(UTC) - timedelta(seconds=10)
    for i, pod in enumerate(state.new_pods):
        if _container_creating(pod):
            # Started last step: its containers are up and ready now.
            state.new_pods[i] = store.update(
                "pods",
                namespace,
                pod["metadata"]["name"],
                lambda p: o.running(p, started=started),
                status_only=True,
            )
    if len(state.new_pods) < desired:
        state.new_pods.append(store.create(_new_pod(new_rs, state.new_pods)))
    elif len(state.new_pods) > desired and not state.old_pods:
        extra = state.new_pods.pop()
        store.delete("pods", namespace, extra["metadata"]["name"])
    if state.old_pods and len(state.new_pods) + len(state.old_pods) > desired:
        victim = state.old_pods.pop(0)
        store.delete("pods", victim["metadata"]["namespace"], victim["metadata"]["name"])
    _write_statuses(store, state)
    old = [rs for rs in state.replicasets if rs is not new_rs]
    _prune_history(store, dep, old)


def _container_creating(pod: dict) -> bool:
    """A pod `_new_pod` started that has not come up yet."""
    status = pod.get("status") or {}
    return status.get("phase") == "Pending" and any(
        ((s.get("state") or {}).get("waiting") or {}).get("reason") == "ContainerCreating"
        for s in status.get("containerStatuses") or []
    )


def _starting(pod: dict) -> dict:
    """A freshly scheduled pod whose containers are being created, as the kubelet reports it."""
    now = timestamp(datetime.now(UTC))
    names = [c["name"] for c in pod["spec"]["containers"]]
    unready = f"containers with unready status: [{' '.join(names)}]"

    def condition(type_: str, ok: bool, reason: str = "", message: str = "") -> dict:
        result = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
        result["lastTransitionTime"] = now
        if reason:
            result["reason"], result["message"] = reason, message
        return result

    host = o.node_ip(pod["spec"]["nodeName"])
    pod["status"] = {
        "phase": "Pending",
        "conditions": [
            condition("PodReadyToStartContainers", False),
            condition("Initialized", True),
            condition("Ready", False, "ContainersNotReady", unready),
            condition("ContainersReady", False, "ContainersNotReady", unready),
            condition("PodScheduled", True),
        ],
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "startTime": now,
        "containerStatuses": [
            {
                "name": c["name"],
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
                "ready": False,
                "restartCount": 0,
                "image": c["image"],
                "imageID": "",
                "started": False,
            }
            for c in pod["spec"]["containers"]
        ],
        "qosClass": "Burstable",
    }
    return pod


def _promote(store: Store, dep: dict, rs: dict, replicasets: list[dict]) -> None:
    """Give `rs` (and the Deployment) the next revision number, as a rollback does."""
    revision = str(max(_revision(r) for r in replicasets) + 1)

    def annotate(current: dict) -> None:
        current["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision

    store.update("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"], annotate)
    store.update("deployments.apps", dep["metadata"]["namespace"], dep["metadata"]["name"], annotate)


def _new_pod(rs: dict, siblings: list[dict]) -> dict:
    """A fresh pod for `rs` whose name none of its siblings has."""
    revision = _revision(rs)
    used = {p["metadata"]["name"] for p in siblings}
    for index in itertools.count():
        fresh = o.pod_for(
            rs,
            index=index,
            node=o.NODES[(len(siblings) + revision) % len(o.NODES)],
            started=datetime.now(UTC),
            salt=revision,
        )
        if fresh["metadata"]["name"] not in used:
            # A new pod gets a new uid from the store, as from the API server.
            fresh["metadata"].pop("uid")
            return _starting(fresh)
    raise AssertionError("unreachable")


def _write_statuses(store: Store, state: _Rollout) -> None:
    """Scale each ReplicaSet to the pods it has, and recompute the Deployment's status."""
    pods = state.new_pods + state.old_pods
    for rs in state.replicasets:
        owned = o.owned_pods(rs, pods)

        def scale(current: dict, owned: list[dict] = owned) -> None:
            current["spec"]["replicas"] = len(owned)
            current["status"] = o.replicaset_status(current, owned)

        meta = rs["metadata"]
        store.update("replicasets.apps", meta["namespace"], meta["name"], scale)

    ordered = [rs for rs in state.replicasets if rs is not state.new_rs] + [state.new_rs]

    def set_status(current: dict) -> None:
        current["status"] = o.deployment_status(current, ordered, pods)

    meta = state.deployment["metadata"]
    store.update("deployments.apps", meta["namespace"], meta["name"], set_status)


def _bump_image(store: Store, dep: dict) -> dict:
    """Change the image tag, as a CI pipeline would; returns the updated Deployment."""

    def bump(current: dict) -> None:
        container = current["spec"]["template"]["spec"]["containers"][0]
        container["image"] = _bump_tag(container["image"])

    return store.update("deployments.apps", dep["metadata"]["namespace"], dep["metadata"]["name"], bump)


def _create_replicaset(store: Store, dep: dict, replicasets: list[dict]) -> None:
    """What the Deployment controller does for a new template: a new revision and RS."""
    revision = max((_revision(rs) for rs in replicasets), default=0) + 1

    def annotate(current: dict) -> None:
        annotations = current["metadata"].setdefault("annotations", {})
        annotations["deployment.kubernetes.io/revision"] = str(revision)

    updated = store.update(
        "deployments.apps", dep["metadata"]["namespace"], dep["metadata"]["name"], annotate
    )
    new_rs = o.replicaset_for(updated, revision=revision, replicas=0, created=datetime.now(UTC))
    new_rs["metadata"].pop("uid")
    store.create(new_rs)


def _prune_history(store: Store, dep: dict, old: list[dict]) -> None:
    """Delete scaled-down ReplicaSets beyond revisionHistoryLimit, oldest first."""
    limit = dep["spec"].get("revisionHistoryLimit", 10)
    idle = [rs for rs in old if not rs["spec"].get("replicas")]
    for rs in idle[: max(len(idle) - limit, 0)]:
        store.delete("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"])


# -- scale --------------------------------------------------------------------


def seed_scale(store: Store, pods: int = 10_000, namespaces: int = 500, deployments: int = 2_000) -> None:
    """Fill a store with a large cluster fast, for benchmarks.

    Objects are built directly and handed to `Store.load` without copying;
    every pod of a deployment shares one spec dict, which is safe because the
    store never mutates what it holds.
    """
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

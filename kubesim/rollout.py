"""The Deployment controller, in steps: what `evolve` does to every Deployment whose template changed.

A changed template gets a new ReplicaSet (a revision) in the first step; then each
step one new pod is started (ContainerCreating, not ready), the one started the step
before becomes Running and ready, and one old pod is retired. Going back to an older
template reuses its ReplicaSet as a new revision, as a rollback does. A Deployment of
N replicas is done within N + 2 steps. Scaled-down ReplicaSets beyond
`revisionHistoryLimit` are deleted, oldest first.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubesim import objects as o
from kubesim.store import NotFound, Store, timestamp


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


def rollouts_step(store: Store) -> None:
    """One step of every Deployment's rolling update."""
    for dep in store.list("deployments.apps"):
        if dep["spec"].get("paused"):
            continue
        meta = dep["metadata"]
        try:
            _rollout_one(store, meta["namespace"], meta["name"])
        except NotFound:
            continue  # deleted through the API meanwhile


def rollout_done(store: Store, namespace: str, name: str) -> bool:
    """Whether the Deployment runs its template's pods, all of them up, and nothing else."""
    state = _rollout_state(store, namespace, name)
    return state is not None and _done(state)


def _done(state: _Rollout) -> bool:
    return (
        state.new_rs is not None
        and len(state.new_pods) == state.deployment["spec"]["replicas"]
        and not state.old_pods
        and not any(_container_creating(p) for p in state.new_pods)
    )


def _rollout_one(store: Store, namespace: str, name: str) -> None:
    """Surge one new pod, bring up the one started last step, retire one old pod."""
    state = _rollout_state(store, namespace, name)
    if state is None:
        return
    dep, new_rs = state.deployment, state.new_rs
    if new_rs is None:
        # The template changed (through the API or from git): start its ReplicaSet.
        _create_replicaset(store, dep, state.replicasets)
        return
    if _done(state):
        return
    desired = dep["spec"]["replicas"]
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

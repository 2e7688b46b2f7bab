"""Demo cluster contents: the teams' namespaces, some healthy and some failing workloads.

`seed_demo` fills a store with what the portal's demo users see; `evolve` moves
it along (a crash-looping pod restarts, `search-api` releases a new version now
and then, Flux applies what was pushed to git, and any Deployment whose pod
template changed rolls out through `kubesim.rollout`) so live pages visibly change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kubesim import objects as o
from kubesim.flux import flux_demo_objects, reconcile_step, register_flux
from kubesim.rollout import rollout_done, rollouts_step
from kubesim.store import Store, timestamp

if TYPE_CHECKING:
    from kubesim.automation import ImageAutomationPlayer
    from kubesim.gitops import GitOpsPlayer

TEAM_NAMESPACES = {
    "payments": "payments",
    "payments-staging": "payments",
    "search": "search",
}
SYSTEM_NAMESPACES = ("kube-system", "flux-system")
# How often (in ticks) search-api releases a new version, as its CI would.
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
    if tick > 0 and tick % ROLLOUT_EVERY == 0 and rollout_done(store, "search", "search-api"):
        _bump_image(store, "search", "search-api")
    rollouts_step(store)
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


def _bump_image(store: Store, namespace: str, name: str) -> None:
    """Change the Deployment's image tag, as a CI pipeline would."""

    def bump(current: dict) -> None:
        container = current["spec"]["template"]["spec"]["containers"][0]
        container["image"] = _bump_tag(container["image"])

    store.update("deployments.apps", namespace, name, bump)

"""Readiness fixtures: subjects built by the real reducers from kubesim's Kubernetes JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from apps.clusters import reduce, sync
from apps.readiness.rules import Subject
from apps.readiness.services import readiness_recompute
from kubesim import objects as o
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401  (kubesim + a Cluster row)
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory


def template_of(controller: dict) -> dict:
    """The pod template of a workload object (through a CronJob's job template)."""
    if controller["kind"] == "CronJob":
        return controller["spec"]["jobTemplate"]["spec"]["template"]
    return controller["spec"]["template"]


def edit(workload: o.Workload | dict, change: Callable[[dict], None]) -> None:
    """Apply `change` to a pod spec in the controller's template and in every pod, as a rollout would."""
    if isinstance(workload, dict):
        change(template_of(workload)["spec"])
        return
    change(template_of(workload.controller)["spec"])
    for pod in workload.pods:
        change(pod["spec"])


def subject(
    workload: o.Workload | dict,
    *,
    service_accounts: Iterable[dict] = (),
    pdbs: Iterable[dict] = (),
    production: bool = False,
    restarts_24h: int = 0,
) -> Subject:
    """A rule subject from raw objects, reduced exactly as the sync reduces them."""
    controller = workload if isinstance(workload, dict) else workload.controller
    pods = [] if isinstance(workload, dict) else workload.pods
    row = reduce.workload(controller)
    return Subject(
        kind=row["kind"],
        namespace=row["namespace"],
        name=row["name"],
        template=row["template"],
        annotations=row["annotations"],
        desired=row.get("desired"),
        pods=[reduce.pod(p) for p in pods],
        service_accounts={
            sa["metadata"]["name"]: reduce.service_account(sa)["annotations"] for sa in service_accounts
        },
        pdb_selectors=[reduce.pdb(p)["selector"] for p in pdbs],
        production=production,
        restarts_24h=restarts_24h,
    )


@pytest.fixture
def make_subject():
    return subject


# The pages' fixtures: lessons that teach three rules, the demo cluster synced and evaluated, alice.


@pytest.fixture
def lessons():
    phase = PhaseFactory(slug="production-readiness", title="Production readiness")
    return {
        "graceful": LessonFactory(phase=phase, slug="graceful-termination", title="Stopping pods",
                                  related_rules=["graceful-termination"]),
        "sts": LessonFactory(phase=phase, slug="irsa-and-sts-regional-endpoints", title="IRSA and STS",
                             related_rules=["sts-regional-endpoints"]),
        "monitor": LessonFactory(phase=phase, slug="monitor-system-components", title="Monitor components",
                                 related_rules=["metrics-exposed"]),
    }  # fmt: skip


@pytest.fixture
def evaluated(cluster, lessons):  # noqa: F811  (the imported fixture)
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    return cluster


@pytest.fixture
def alice(teams):  # noqa: F811  (the imported fixture)
    return MembershipFactory(team=teams["payments"], user=UserFactory(username="alice")).user

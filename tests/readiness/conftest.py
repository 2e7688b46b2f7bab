"""Readiness fixtures: subjects built by the real reducers from kubesim's Kubernetes JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from apps.clusters import reduce
from apps.readiness.rules import Subject
from kubesim import objects as o
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401  (kubesim + a Cluster row)


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

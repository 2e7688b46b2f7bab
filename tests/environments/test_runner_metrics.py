"""A deployment's metrics: its outcome, and the time it spent in each step."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from tests.environments.runnerfixtures import KUSTOMIZATIONS, drive, request

pytestmark = pytest.mark.django_db


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_healthy_deploy_counts_its_outcome_and_each_step(staging, alice, flux):
    healthy = sample("shirube_deployments_total", kind="deploy", outcome="healthy")
    steps = {s: sample("shirube_deployment_step_duration_seconds_count", step=s) for s in
             ("queued", "committing", "committed", "reconciling")}  # fmt: skip
    assert drive(request(alice, staging), flux)[-1] == "healthy"
    assert sample("shirube_deployments_total", kind="deploy", outcome="healthy") == healthy + 1
    for step, before in steps.items():
        assert sample("shirube_deployment_step_duration_seconds_count", step=step) == before + 1, step


def test_a_failed_deploy_counts_as_failed(staging, alice, flux, sim):
    def suspend(obj):
        obj["spec"]["suspend"] = True

    failed = sample("shirube_deployments_total", kind="deploy", outcome="failed")
    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", suspend)
    assert drive(request(alice, staging), flux)[-1] == "failed"
    assert sample("shirube_deployments_total", kind="deploy", outcome="failed") == failed + 1

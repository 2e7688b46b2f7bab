"""The runner's fixtures: real git (the demo repository) and kubesim over HTTP playing Flux for it.

Registered as fixtures by tests/environments/conftest.py; the helpers are imported by the runner tests.
"""

from __future__ import annotations

import subprocess

import pytest

from apps.clusters import sync
from apps.environments import runner, services
from apps.environments.models import Deployment, Environment
from kubesim.demo import evolve
from kubesim.demo_repo import demo_repo_init
from kubesim.gitops import GitOpsPlayer
from kubesim.objects import REGISTRY
from tests.factories import MembershipFactory, UserFactory

IMAGE = f"{REGISTRY}/payments/checkout-api"
KUSTOMIZATIONS = "kustomizations.kustomize.toolkit.fluxcd.io"
BRANCH_TAG = "feature-x-3f2a1c9-1732600000"


@pytest.fixture
def repo(tmp_path, settings):
    path = tmp_path / "gitops.git"
    demo_repo_init(path)
    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "work"
    return path


@pytest.fixture
def flux(sim, repo):
    """Simulated Flux + Deployment controller: one call = one step of both."""
    player = GitOpsPlayer(sim.store, {"flux-system/gitops": repo}, step_seconds=0.1)
    ticks = iter(range(1, 10_000))

    def step() -> None:
        evolve(sim.store, next(ticks), player)

    step()  # Flux has applied what the repository says before anyone deploys
    return step


@pytest.fixture
def alice(teams):
    return MembershipFactory(
        team=teams["payments"],
        user=UserFactory(username="alice", first_name="Alice", email="alice@example.com"),
    ).user


@pytest.fixture
def staging(cluster, repo, teams, flux):
    sync.cluster_sync(cluster=cluster)
    environment = Environment.objects.create(
        team=teams["payments"], app="checkout-api", stage="staging", cluster=cluster,
        namespace="payments-staging", kustomization="flux-system/payments-staging", repo_url=str(repo),
        kustomization_path="apps/payments/staging/kustomization.yaml", image=IMAGE,
        image_policy="payments:checkout-api", image_repository="payments/checkout-api",
    )  # fmt: skip
    return runner.environment_refresh(environment=environment)


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def request(user, environment, tag=BRANCH_TAG, kind="deploy", key=None) -> Deployment:
    return services.deployment_request(
        user=user, environment=environment, kind=kind, tag=tag, idempotency_key=key or f"{kind}-{tag}"
    )


def drive(deployment: Deployment, flux, *, steps: int = 40) -> list[str]:
    """Step the runner (and Flux between steps) until it finishes; returns the statuses seen."""
    seen = [deployment.status]
    for _ in range(steps):
        delay = runner.deployment_advance(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        if deployment.status != seen[-1]:
            seen.append(deployment.status)
        if delay is None:
            return seen
        flux()
    raise AssertionError(f"still {deployment.status} after {steps} steps: {deployment.message}")

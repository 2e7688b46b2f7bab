"""Environment fixtures: payments' checkout-api in staging and production, with users of every role.

Registered as fixtures by tests/environments/conftest.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Membership
from apps.clusters.models import Cluster, FluxObject, Namespace, Pod, Workload
from apps.environments.models import Approval, Environment
from apps.lessons.models import Progress
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api"
STAGING_SHA = "3f2a1c9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
ROLES = ("anonymous", "other team", "member", "lead", "sre")


@pytest.fixture
def people(db, teams, sre):
    from django.contrib.auth.models import AnonymousUser

    return {
        "anonymous": AnonymousUser(),
        "other team": MembershipFactory(team=teams["search"], user=UserFactory(username="bob")).user,
        "member": MembershipFactory(team=teams["payments"], user=UserFactory(username="alice")).user,
        "lead": MembershipFactory(
            team=teams["payments"], user=UserFactory(username="carol"), role=Membership.Role.LEAD
        ).user,
        "sre": sre,
        # A second lead, to approve what the first lead asks for.
        "other lead": MembershipFactory(
            team=teams["payments"], user=UserFactory(username="dave"), role=Membership.Role.LEAD
        ).user,
    }


@pytest.fixture
def flux_phase(db):
    phase = PhaseFactory(slug="flux", title="Shipping with Flux")
    lessons = [LessonFactory(phase=phase, slug=f"flux-{n}", title=f"Flux lesson {n}") for n in range(2)]
    return phase, lessons


def complete_phase(user, phase) -> None:
    for lesson in phase.lessons.all():
        Progress.objects.update_or_create(
            user=user,
            lesson=lesson,
            defaults={"status": Progress.Status.COMPLETED, "completed_at": timezone.now()},
        )


def _cluster_row(name: str = "demo-rows") -> Cluster:
    cluster, _ = Cluster.objects.get_or_create(
        name=name, defaults={"connection": Cluster.Connection.KUBECONFIG, "kubeconfig_path": "/nonexistent"}
    )
    return cluster


@pytest.fixture
def envs(db, teams, flux_phase):
    """Staging (member, follows automation) and production (promotes from staging, phases, approval)."""
    cluster = _cluster_row()
    for name in ("payments-staging", "payments"):
        Namespace.objects.create(cluster=cluster, name=name, uid=f"ns-{name}", resource_version="1",
                                 team=teams["payments"])  # fmt: skip
    common = {"team": teams["payments"], "app": "checkout-api", "cluster": cluster, "repo_url": "/nonexistent.git",
              "image": IMAGE, "image_repository": "payments/checkout-api"}  # fmt: skip
    staging = Environment.objects.create(
        **common, stage="staging", namespace="payments-staging", kustomization="flux-system/payments-staging",
        kustomization_path="apps/payments/staging/kustomization.yaml", image_policy="payments:checkout-api",
        git_sha=STAGING_SHA, git_tag="v2.15.0", git_marker="payments:checkout-api",
    )  # fmt: skip
    production = Environment.objects.create(
        **common, stage="production", namespace="payments", kustomization="flux-system/payments-apps",
        kustomization_path="apps/payments/production/kustomization.yaml", promotes_from=staging,
        requires_approval=True, git_sha="0" * 40, git_tag="v2.14.3",
    )  # fmt: skip
    production.required_phases.set([flux_phase[0]])
    return {"staging": staging, "production": production, "cluster": cluster}


def kustomization_row(environment: Environment, *, revision: str, ready: str = "True") -> FluxObject:
    return FluxObject.objects.update_or_create(
        cluster=environment.cluster, kind="Kustomization", namespace=environment.kustomization_namespace,
        name=environment.kustomization_name,
        defaults={"uid": f"k-{environment.slug}", "resource_version": "1", "api_version": "kustomize.toolkit.fluxcd.io/v1",
                  "ready_status": ready, "last_applied_revision": revision},
    )[0]  # fmt: skip


def pods_running(
    environment: Environment,
    tag: str,
    *,
    count: int = 2,
    ready: bool = True,
    reason: str = "CrashLoopBackOff",
) -> None:
    """`count` pods of the environment's image on `tag`; not ready ones wait with `reason`."""
    Pod.objects.filter(cluster=environment.cluster, namespace=environment.namespace).delete()
    for n in range(count):
        Pod.objects.create(
            cluster=environment.cluster, namespace=environment.namespace, name=f"{environment.app}-{tag}-{n}",
            uid=f"pod-{environment.slug}-{tag}-{n}", resource_version="1",
            phase="Running" if ready or reason == "CrashLoopBackOff" else "Pending",
            ready_containers=1 if ready else 0, total_containers=1, images=[f"{IMAGE}:{tag}"],
            reason="" if ready else reason,
        )  # fmt: skip


def workload_wants(environment: Environment, tag: str) -> Workload:
    """The environment's Deployment as synced, its pod template asking for `tag`."""
    return Workload.objects.update_or_create(
        cluster=environment.cluster, namespace=environment.namespace, name=environment.app, kind="Deployment",
        defaults={"uid": f"dep-{environment.slug}", "resource_version": "1",
                  "template": {"containers": [{"name": "app", "image": f"{IMAGE}:{tag}"}]}},
    )[0]  # fmt: skip


def staging_healthy(envs, tag: str = "v2.15.0") -> None:
    staging = envs["staging"]
    kustomization_row(staging, revision=f"main@sha1:{STAGING_SHA}")
    pods_running(staging, tag)


def approval(
    environment: Environment, *, tag: str, requested_by, approved_by=None, expired=False
) -> Approval:
    now = timezone.now()
    return Approval.objects.create(
        environment=environment, tag=tag, requested_by=requested_by,
        approved_by=approved_by, approved_at=now if approved_by else None,
        expires_at=now - timedelta(minutes=1) if expired else now + timedelta(hours=24),
    )  # fmt: skip

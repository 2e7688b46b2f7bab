"""Demo environments for `make run`: payments' checkout-api in staging and production.

The GitOps repository is a local bare repository that the demo cluster
(kubesim, started with --gitops-repo) plays Flux for, so a deploy in the demo
goes end to end: commit, reconcile, pods on the new tag.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from apps.accounts.demo import demo_allowed
from apps.accounts.models import Team
from apps.clusters.models import Cluster
from apps.core.config_audit import config_change_record, config_snapshot
from apps.environments.models import Environment
from apps.lessons.models import Phase

DEMO_REPO = "demo-gitops.git"
# The phase a developer completes before promoting to production in the demo.
DEMO_REQUIRED_PHASE = "flux"


def demo_repo_path() -> Path:
    return (settings.VAR_DIR / DEMO_REPO).resolve()


def demo_environments_configure(*, cluster: Cluster, repo: Path) -> tuple[Environment, Environment]:
    """The demo's two environments, pointing at a repository laid out like kubesim's demo one."""
    from kubesim.objects import REGISTRY

    team = Team.objects.get(slug="payments")
    stored = {e.stage: config_snapshot(e) for e in Environment.objects.filter(team=team, app="checkout-api")}
    common = {
        "cluster": cluster, "repo_url": str(repo), "branch": "main",
        "image": f"{REGISTRY}/payments/checkout-api", "image_repository": "payments/checkout-api",
    }  # fmt: skip
    with transaction.atomic():
        staging, _ = Environment.objects.update_or_create(
            team=team, app="checkout-api", stage=Environment.Stage.STAGING,
            defaults={
                **common, "namespace": "payments-staging", "kustomization": "flux-system/payments-staging",
                "kustomization_path": "apps/payments/staging/kustomization.yaml",
                "image_policy": "payments:checkout-api", "required_role": Environment.Role.MEMBER,
                "requires_approval": False,
            },
        )  # fmt: skip
        production, _ = Environment.objects.update_or_create(
            team=team, app="checkout-api", stage=Environment.Stage.PRODUCTION,
            defaults={
                **common, "namespace": "payments", "kustomization": "flux-system/payments-apps",
                "kustomization_path": "apps/payments/production/kustomization.yaml", "image_policy": "",
                "promotes_from": staging, "required_role": Environment.Role.MEMBER, "requires_approval": True,
            },
        )  # fmt: skip
        production.required_phases.set(Phase.objects.filter(slug=DEMO_REQUIRED_PHASE))
        for environment in (staging, production):
            before = stored.get(environment.stage)
            verb = "changed" if before is not None else "created"
            config_change_record(by=None, instance=environment, verb=verb, before=before or {})
    return staging, production


def demo_environments_seed(*, cluster_name: str = "demo") -> list[Environment]:
    """Create the demo repository (if absent) and environments, and read git once; idempotent."""
    demo_allowed()
    if not settings.SHIRUBE_GIT_ALLOW_LOCAL:
        raise ImproperlyConfigured(
            "The demo's GitOps repository is a local one: set SHIRUBE_GIT_ALLOW_LOCAL=true (make run does)."
        )
    from apps.environments.runner import environment_refresh
    from kubesim.demo_repo import demo_repo_init

    repo = demo_repo_path()
    demo_repo_init(repo)
    environments = demo_environments_configure(cluster=Cluster.objects.get(name=cluster_name), repo=repo)
    return [environment_refresh(environment=e) for e in environments]

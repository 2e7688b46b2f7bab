"""Demo data for `make run`: known users and passwords, so never in production.

Everything is refused unless SHIRUBE_DEMO is on and the database is SQLite. The teams,
users and a little learning history; a month of readiness scores, so the trend
chart means something; and payments' checkout-api environments in staging and
production, on a local bare GitOps repository that the demo cluster (kubesim,
started with --gitops-repo) plays Flux for, so a deploy in the demo goes end to
end: commit, reconcile, pods on the new tag. kubesim is imported where it is
used, after the refusals: the production image has no kubesim.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import Membership, Team
from apps.clusters.models import Cluster
from apps.core.config_audit import config_change_record, config_snapshot
from apps.environments.models import Environment
from apps.environments.runner import environment_refresh
from apps.lessons.models import Lesson, Phase, Progress, QuizAttempt, StuckFlag
from apps.readiness.models import TeamScore

DEMO_USERS = [
    # username, team slug, role, description
    ("alice", "payments", Membership.Role.MEMBER, "developer, team payments"),
    ("bob", "search", Membership.Role.MEMBER, "developer, team search"),
    ("carol", "payments", Membership.Role.LEAD, "lead of payments"),
    ("sre", None, None, "SRE, admin access"),
]
DEMO_TEAMS = [("payments", "Payments"), ("search", "Search")]


def demo_allowed() -> None:
    """Refuse unless SHIRUBE_DEMO is on and the database is SQLite: the passwords are public."""
    if not settings.SHIRUBE_DEMO:
        raise ImproperlyConfigured("Demo data is refused: SHIRUBE_DEMO is off (make run sets it).")
    if connection.vendor != "sqlite":
        raise ImproperlyConfigured(
            f"Demo data is refused on {connection.vendor}: it is for the local SQLite database only."
        )


@transaction.atomic
def demo_seed(*, password: str) -> list[tuple[str, str]]:
    """Create (or reset) the demo teams and users; idempotent."""
    demo_allowed()
    teams = {slug: accounts.team_ensure(slug=slug, name=name) for slug, name in DEMO_TEAMS}
    created = []
    for username, team_slug, role, description in DEMO_USERS:
        user = accounts.user_ensure(username=username, password=password, first_name=username.capitalize())
        if not user.email:
            # Notifications by e-mail go to the worker's console in the demo (SHIRUBE_EMAIL_BACKEND).
            user.email = f"{username}@demo.example.com"
            user.save(update_fields=["email"])
        if team_slug:
            accounts.membership_set(user=user, team=teams[team_slug], role=role)
        else:
            accounts.user_make_sre(user=user)
        created.append((username, description))
    _demo_progress()
    return created


def _demo_progress() -> None:
    """A little history so that the team progress page has something to show."""
    User = get_user_model()
    lessons = list(Lesson.objects.visible().order_by("phase__order", "order")[:6])
    if not lessons:
        return
    carol, bob = User.objects.get(username="carol"), User.objects.get(username="bob")
    now = timezone.now()
    for index, lesson in enumerate(lessons):
        Progress.objects.get_or_create(
            user=carol,
            lesson=lesson,
            defaults={
                "status": Progress.Status.COMPLETED,
                "started_at": now - timedelta(days=10 - index),
                "completed_at": now - timedelta(days=9 - index),
            },
        )
    first = lessons[0]
    Progress.objects.get_or_create(user=bob, lesson=first, defaults={"started_at": now})
    if not QuizAttempt.objects.filter(user=bob, lesson=first).exists():
        QuizAttempt.objects.create(user=bob, lesson=first, passed=False, score=1, total=4)
    if not StuckFlag.objects.filter(user=bob, lesson=first).exists():
        StuckFlag.objects.create(user=bob, lesson=first, comment="Which of these applies to our batch jobs?")


# -- readiness: a month of scores --------------------------------------------------

# team slug -> (score 29 days ago, score yesterday): payments improving, search flat.
DEMO_TRENDS = {"payments": (42, 61), "search": (58, 57)}


def demo_scores_backfill(*, days: int = 29) -> int:
    """Invent a plausible score per demo team for each of the last `days` days; keeps real snapshots."""
    today = timezone.localdate()
    written = 0
    for team in Team.objects.filter(slug__in=DEMO_TRENDS):
        start, end = DEMO_TRENDS[team.slug]
        for n in range(days):
            day = today - timedelta(days=days - n)
            wobble = (-2, 1, 0, 2, -1)[n % 5]  # a rollout fixes things, a new service breaks some
            score = round(start + (end - start) * n / max(days - 1, 1)) + (wobble if 0 < n < days - 1 else 0)
            _, created = TeamScore.objects.get_or_create(team=team, day=day, defaults={"score": score})
            written += created
    return written


# -- environments: the GitOps repository and checkout-api in two stages -------------

DEMO_REPO = "demo-gitops.git"
# The phase a developer completes before promoting to production in the demo.
DEMO_REQUIRED_PHASE = "flux"


def demo_repo_path() -> Path:
    return (settings.VAR_DIR / DEMO_REPO).resolve()


def demo_environments_configure(*, cluster: Cluster, repo: Path) -> tuple[Environment, Environment]:
    """The demo's two environments, pointing at a repository laid out like kubesim's demo one."""
    from kubesim.objects import REGISTRY  # here, not at the top: the production image has no kubesim

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
    from kubesim.demo_repo import demo_repo_init  # after the refusals: the production image has no kubesim

    repo = demo_repo_path()
    demo_repo_init(repo)
    environments = demo_environments_configure(cluster=Cluster.objects.get(name=cluster_name), repo=repo)
    return [environment_refresh(environment=e) for e in environments]

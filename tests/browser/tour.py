"""Every main page of the product with real data behind it, for the layout and accessibility checks.

The shipped curriculum (long lessons with code, tables and diagrams), the demo cluster
(kubesim) synced and checked for readiness, payments' two environments on a real bare
GitOps repository, a month of scores and the demo's people. Transactional tests: the live
server's thread reads what the test wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.utils import timezone

ROOT = Path(__file__).resolve().parents[2]
# A long lesson with code blocks, a table and a quiz, and one with a Mermaid diagram.
LONG_LESSON = "/learn/production-readiness/graceful-termination/"
DIAGRAM_LESSON = "/learn/orientation/platform-map/"


@dataclass(frozen=True)
class Stop:
    name: str
    path: str
    who: str  # a key of Tour.people
    quiz_failed: bool = False  # answer the quiz wrong first, to see the result


@dataclass
class Tour:
    people: dict
    stops: list[Stop]
    lesson_id: int


@pytest.fixture
def tour(cluster, tmp_path, monkeypatch):
    from apps.accounts.models import Membership, Team
    from apps.accounts.services import user_make_sre
    from apps.clusters import sync
    from apps.clusters.models import Pod
    from apps.demo.services import demo_environments_configure, demo_scores_backfill
    from apps.environments.models import Deployment
    from apps.environments.runner import environment_refresh
    from apps.lessons.content_import import load_content
    from apps.lessons.models import Lesson
    from apps.readiness import tasks
    from apps.readiness.services import readiness_recompute
    from kubesim.demo_repo import demo_repo_init
    from tests.factories import MembershipFactory, UserFactory

    # The recompute the sync queues runs here, in the test, rather than on a worker.
    monkeypatch.setattr(tasks.readiness_recompute, "delay", lambda cluster_id: None)
    load_content(ROOT / "content")
    payments = Team.objects.get(slug="payments")
    alice = MembershipFactory(team=payments, user=UserFactory(username="alice")).user
    carol = MembershipFactory(
        team=payments, user=UserFactory(username="carol"), role=Membership.Role.LEAD
    ).user
    sre = user_make_sre(user=UserFactory(username="sre", is_staff=True))
    repo = tmp_path / "gitops.git"
    demo_repo_init(repo)
    staging, production = demo_environments_configure(cluster=cluster, repo=repo)
    for environment in (staging, production):
        environment_refresh(environment=environment)
    Deployment.objects.create(
        environment=production, kind=Deployment.Kind.PROMOTE, tag="v2.14.3", previous_tag="v2.14.2",
        requested_by=carol, idempotency_key="tour-promote", status=Deployment.Status.HEALTHY, sha="a1" * 20,
        message="Every pod runs v2.14.3 and is ready.", finished_at=timezone.now(),
    )  # fmt: skip
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    demo_scores_backfill()
    failing = Pod.objects.filter(cluster=cluster, namespace="payments").exclude(reason="").first()
    stops = [
        Stop("lessons index", "/learn/", "alice"),
        Stop("a phase", "/learn/production-readiness/", "alice"),
        Stop("a long lesson", LONG_LESSON, "alice"),
        Stop("a lesson with a diagram", DIAGRAM_LESSON, "alice"),
        Stop("a quiz, answered wrong", LONG_LESSON, "alice", quiz_failed=True),
        Stop("my progress", "/learn/progress/", "alice"),
        Stop("team progress", "/learn/teams/", "carol"),
        Stop("search", "/learn/search/?q=preStop", "alice"),
        Stop("teams", "/teams/", "alice"),
        Stop("team", "/teams/payments/", "alice"),
        Stop("workload", "/teams/payments/workloads/demo/payments/deployment/checkout-api/", "alice"),
        Stop("pod", f"/teams/payments/pods/demo/payments/{failing.name}/", "alice"),
        Stop("flux", "/teams/payments/flux/", "alice"),
        Stop("environments", "/teams/payments/environments/", "alice"),
        Stop("an environment", "/teams/payments/environments/checkout-api-production/", "alice"),
        Stop("readiness", "/teams/payments/readiness/", "alice"),
        Stop("notification settings", "/settings/notifications/", "alice"),
        Stop("readiness, all teams", "/readiness/", "sre"),
        Stop("notifications sent", "/notifications/", "sre"),
    ]
    lesson = Lesson.objects.get(slug="graceful-termination")
    return Tour({"alice": alice, "carol": carol, "sre": sre}, stops, lesson.pk)


def visit(page, live_server, login, tour: Tour, stop: Stop, signed_in: dict) -> None:
    """Open a stop's page as its person (signing in only when the person changes)."""
    if signed_in.get("who") != stop.who:
        page.context.clear_cookies()
        login(page, tour.people[stop.who])
        signed_in["who"] = stop.who
    page.goto(f"{live_server.url}{stop.path}")
    page.wait_for_load_state("networkidle")
    if stop.quiz_failed:
        page.locator("#quiz fieldset").first.locator("input").first.check()
        page.locator("#quiz button[type=submit]").click()
        page.locator("#quiz .message").wait_for()

"""The home page: what one person needs today, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.clusters.models import Cluster, FluxObject, Namespace, Pod
from apps.environments.models import Approval, Deployment, Environment
from apps.home.selectors import home_page
from apps.lessons.models import Progress
from apps.readiness.models import Finding
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

IMAGE = "registry.example/payments/checkout-api"


@pytest.fixture
def world(db):
    """Payments on one cluster: alice (member), carol (lead), a lesson per rule, an environment."""
    payments, search = (
        TeamFactory(slug="payments", name="Payments"),
        TeamFactory(slug="search", name="Search"),
    )
    alice = MembershipFactory(team=payments, user=UserFactory(username="alice", first_name="Alice")).user
    carol = MembershipFactory(
        team=payments, user=UserFactory(username="carol"), role=Membership.Role.LEAD
    ).user
    bob = MembershipFactory(team=search, user=UserFactory(username="bob")).user
    cluster = Cluster.objects.create(name="c1", connection="kubeconfig", kubeconfig_path="/nonexistent")
    for team, name in ((payments, "payments"), (search, "search")):
        Namespace.objects.create(
            cluster=cluster, name=name, uid=f"ns-{name}", resource_version="1", team=team
        )
    phase = PhaseFactory(slug="basics", title="Basics", order=1)
    first = LessonFactory(phase=phase, slug="first", title="First steps", order=1)
    probes = LessonFactory(phase=phase, slug="probes-l", title="Probes", order=2, related_rules=["readiness-probe"],
                           related_reasons=["CrashLoopBackOff"])  # fmt: skip
    environment = Environment.objects.create(
        team=payments, app="checkout-api", stage="staging", cluster=cluster, namespace="payments",
        kustomization="flux-system/payments", repo_url="/nonexistent.git", kustomization_path="k.yaml",
        image=IMAGE, requires_approval=True,
    )  # fmt: skip
    return {"payments": payments, "search": search, "alice": alice, "carol": carol, "bob": bob,
            "cluster": cluster, "first": first, "probes": probes, "environment": environment}  # fmt: skip


_counter = iter(range(1_000_000))


def _pod(cluster, namespace, problem="", reason="", created=None) -> Pod:
    n = next(_counter)
    return Pod.objects.create(
        cluster=cluster, namespace=namespace, name=f"pod-{n}", uid=f"pod-{n}", resource_version="1",
        problem=problem, reason=reason, phase="Running", created=created or timezone.now(),
    )  # fmt: skip


def _finding(world, rule="readiness-probe", team=None) -> Finding:
    n = next(_counter)
    return Finding.objects.create(
        cluster=world["cluster"], team=team or world["payments"], namespace="payments", workload_kind="Deployment",
        workload_name=f"api-{n}", workload_uid=f"w-{n}", rule=rule, severity="high",
    )  # fmt: skip


def _deployment(world, user, status, tag="v1") -> Deployment:
    n = next(_counter)
    return Deployment.objects.create(
        environment=world["environment"], kind="deploy", tag=tag, requested_by=user, status=status,
        idempotency_key=f"k-{n}", sha="a" * 40 if status == "failed" else "",
    )  # fmt: skip


def test_it_shows_the_team_s_problem_count_and_the_worst_with_its_lesson(world):
    cluster = world["cluster"]
    _pod(cluster, "payments", "NotReady", created=timezone.now() - timedelta(hours=1))
    worst = _pod(cluster, "payments", "CrashLoopBackOff", reason="CrashLoopBackOff")
    _pod(cluster, "payments")  # healthy
    _pod(cluster, "search", "CrashLoopBackOff")  # another team's
    FluxObject.objects.create(cluster=cluster, namespace="flux-system", target_namespace="payments",
                              name="payments", uid="k1", resource_version="1", kind="Kustomization",
                              api_version="v1", ready_status="False")  # fmt: skip
    (row,) = home_page(user=world["alice"]).teams
    assert (row.team, row.pods, row.flux_failing, row.count) == (world["payments"], 2, 1, 3)
    assert (
        row.worst_pod == worst
        and row.worst.key == "CrashLoopBackOff"
        and row.lesson.lesson == world["probes"]
    )


def test_approvals_waiting_are_shown_to_leads_not_to_members_or_the_requester(world):
    Approval.objects.create(environment=world["environment"], tag="v2", requested_by=world["alice"],
                            expires_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    Approval.objects.create(environment=world["environment"], tag="v0", requested_by=world["alice"],
                            expires_at=timezone.now() - timedelta(hours=1))  # expired  # fmt: skip
    assert [a.tag for a in home_page(user=world["carol"]).approvals] == ["v2"]
    assert home_page(user=world["alice"]).approvals == []  # her own request, and not a lead
    assert home_page(user=world["bob"]).approvals == []  # another team's lead would not see it either


def test_it_shows_my_deployments_in_progress_and_the_last_ones_only(world):
    active = _deployment(world, world["alice"], "reconciling", tag="v3")
    failed = _deployment(world, world["alice"], "failed", tag="v2")
    _deployment(world, world["carol"], "healthy", tag="v9")  # someone else's
    page = home_page(user=world["alice"])
    assert page.active == [active] and page.recent == [failed]


def test_the_next_lesson_is_the_first_not_done(world):
    assert home_page(user=world["alice"]).next_lesson == world["first"]
    Progress.objects.create(user=world["alice"], lesson=world["first"], status="completed")
    page = home_page(user=world["alice"])
    assert page.next_lesson == world["probes"] and (page.lessons_done, page.lessons_total) == (1, 2)


def test_findings_a_lesson_not_done_would_fix_disappear_once_it_is_done(world):
    mine = _finding(world)
    _finding(world, team=world["search"])  # another team's
    page = home_page(user=world["alice"])
    assert [(f.finding, f.lesson.lesson) for f in page.findings] == [(mine, world["probes"])]
    Progress.objects.create(user=world["alice"], lesson=world["probes"], status="completed")
    assert home_page(user=world["alice"]).findings == []


def test_the_page_renders_for_a_member_and_for_someone_in_no_team(world, client):
    _deployment(world, world["alice"], "failed", tag="v2")
    client.force_login(world["alice"])
    body = client.get(reverse("home")).content.decode()
    assert "Payments" in body and "First steps" in body and "why?" in body
    client.force_login(UserFactory(username="newcomer"))
    response = client.get(reverse("home"))
    assert response.status_code == 200 and "You are in no team yet" in response.content.decode()


def test_queries_stay_flat_as_objects_grow(world, client, django_assert_max_num_queries):
    def count() -> int:
        client.force_login(world["carol"])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    _pod(world["cluster"], "payments", "CrashLoopBackOff")
    _finding(world)
    _deployment(world, world["carol"], "healthy")
    Approval.objects.create(environment=world["environment"], tag="v1", requested_by=world["alice"],
                            expires_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    small = count()
    for _ in range(30):
        _pod(world["cluster"], "payments", "CrashLoopBackOff")
        _pod(world["cluster"], "payments", "NotReady")
        _finding(world)
        _deployment(world, world["carol"], "failed")
        Approval.objects.create(environment=world["environment"], tag="v2", requested_by=world["alice"],
                                expires_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    assert count() == small
    with django_assert_max_num_queries(small):
        client.get(reverse("home"))

"""The scorecard page, the SRE overview, findings on workload and pod pages, and the lesson box."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clusters import sync
from apps.clusters.models import Pod
from apps.readiness import selectors
from apps.readiness.services import readiness_recompute
from kubesim import objects as o
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, UserFactory

pytestmark = pytest.mark.django_db


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
def evaluated(cluster, lessons):
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    return cluster


@pytest.fixture
def alice(teams):
    return MembershipFactory(team=teams["payments"], user=UserFactory(username="alice")).user


def test_rule_lessons_prefer_the_production_readiness_phase_then_the_rules_own():
    early = LessonFactory(
        phase=PhaseFactory(slug="observability", order=1), related_rules=["metrics-exposed"]
    )
    late = LessonFactory(
        phase=PhaseFactory(slug="production-readiness", order=5), related_rules=["metrics-exposed"]
    )
    fallback = LessonFactory(slug="debugging-failing-pods")
    LessonFactory(slug="probes", status="draft", related_rules=["readiness-probe"])
    mapping = selectors.rule_lessons()
    assert mapping["metrics-exposed"] == late != early
    assert mapping["restarts"] == fallback
    assert "readiness-probe" not in mapping  # only a draft teaches it


def test_the_team_scorecard_shows_findings_linked_to_their_lessons(client_for, alice, evaluated, lessons):
    html = client_for(alice).get("/teams/payments/readiness/").content.decode()
    assert 'class="readiness-score"' in html
    assert 'data-workload="payments/fraud-scorer"' in html
    assert "/learn/production-readiness/irsa-and-sts-regional-endpoints/" in html
    assert "Lesson: IRSA and STS" in html
    assert "/teams/payments/workloads/demo/payments/deployment/fraud-scorer/" in html
    assert "query-cache" not in html  # the search team's


def test_the_scorecard_queries_do_not_grow_with_workloads(client_for, alice, evaluated, sim):
    client = client_for(alice)
    client.get("/teams/payments/readiness/")
    with CaptureQueriesContext(connection) as small:
        client.get("/teams/payments/readiness/")
    for i in range(15):
        for obj in o.deployment("payments", f"extra-{i}", f"{o.REGISTRY}/payments/extra:latest", 1).objects():
            sim.store.apply(obj)
    sync.cluster_sync(cluster=evaluated)
    readiness_recompute(cluster=evaluated)
    with CaptureQueriesContext(connection) as large:
        response = client.get("/teams/payments/readiness/")
    assert "extra-14" in response.content.decode()
    assert len(small.captured_queries) == len(large.captured_queries)


def test_a_team_page_is_hidden_from_non_members_in_members_only_mode(client_for, alice, evaluated, settings):
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    assert client_for(alice).get("/teams/search/readiness/").status_code == 404
    assert client_for(alice).get("/teams/payments/readiness/").status_code == 200


def test_the_overview_is_for_sres(client_for, alice, sre, evaluated):
    assert client_for(alice).get("/readiness/").status_code == 403
    html = client_for(sre).get("/readiness/").content.decode()
    assert 'data-team="payments"' in html and 'data-team="search"' in html
    assert 'href="/readiness/"' in html  # the SRE nav link


def test_the_workload_and_pod_pages_show_the_findings(client_for, alice, evaluated):
    client = client_for(alice)
    html = client.get("/teams/payments/workloads/demo/payments/deployment/fraud-scorer/").content.decode()
    assert 'id="finding-sts-regional-endpoints"' in html and "Lesson: IRSA and STS" in html
    pod = Pod.objects.filter(workload_name="fraud-scorer").first()
    html = client.get(f"/teams/payments/pods/demo/payments/{pod.name}/").content.decode()
    assert 'id="finding-sts-regional-endpoints"' in html


def test_a_lesson_says_how_many_of_your_teams_workloads_fail_it(client_for, alice, evaluated, lessons):
    lesson = lessons["sts"]
    html = client_for(alice).get(f"/learn/production-readiness/{lesson.slug}/").content.decode()
    assert "1 of your team's workloads fails this" in html
    assert 'href="/teams/payments/workloads/demo/payments/deployment/fraud-scorer/#readiness-title"' in html
    bob = MembershipFactory(user=UserFactory(username="bob"), team__slug="other").user
    html = client_for(bob).get(f"/learn/production-readiness/{lesson.slug}/").content.decode()
    assert "None of your team's workloads fails" in html


def test_the_lesson_box_costs_the_same_queries_whatever_the_findings(
    client_for, alice, evaluated, lessons, sim
):
    client = client_for(alice)
    url = f"/learn/production-readiness/{lessons['monitor'].slug}/"
    client.get(url)  # the first view records progress
    with CaptureQueriesContext(connection) as small:
        before = client.get(url).content.decode().count("/teams/payments/workloads/")
    for i in range(5):
        for obj in o.deployment("payments", f"more-{i}", f"{o.REGISTRY}/payments/more:v1", 1).objects():
            sim.store.apply(obj)
    sync.cluster_sync(cluster=evaluated)
    readiness_recompute(cluster=evaluated)
    with CaptureQueriesContext(connection) as large:
        after = client.get(url).content.decode().count("/teams/payments/workloads/")
    assert after == before + 5
    assert len(small.captured_queries) == len(large.captured_queries)

"""Readiness boxes on other apps' pages, drawn by readiness's own template tags: findings on the
workload and pod pages, and on a lesson how many of the reader's teams' workloads fail it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clusters import sync
from apps.clusters.models import Pod
from apps.readiness.services import readiness_recompute
from kubesim import objects as o
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


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

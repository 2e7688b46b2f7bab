"""The scorecard page and the SRE overview (the boxes on other apps' pages: test_templatetags.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.clusters import sync
from apps.readiness.services import readiness_recompute
from kubesim import objects as o

pytestmark = pytest.mark.django_db


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

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
    assert (
        'href="/learn/production-readiness/irsa-and-sts-regional-endpoints/#regional"' in html
    )  # its section
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


def test_the_trend_is_a_chart_with_dates_a_description_and_a_table(client_for, alice, evaluated, teams):
    from datetime import timedelta

    from django.utils import timezone

    from apps.readiness.models import TeamScore

    today = timezone.localdate()
    TeamScore.objects.create(team=teams["payments"], day=today - timedelta(days=29), score=42)
    TeamScore.objects.create(team=teams["payments"], day=today - timedelta(days=10), score=30)
    html = client_for(alice).get("/teams/payments/readiness/").content.decode()
    first, low = today - timedelta(days=29), today - timedelta(days=10)
    chart = html[
        html.index('<svg class="readiness-trend"') : html.index("</svg>", html.index("readiness-trend"))
    ]
    assert 'role="img"' in chart and 'aria-labelledby="trend-title trend-desc"' in chart
    assert '<title id="trend-title">Readiness score, last 30 days</title>' in chart
    assert f"From 42% on {first:%-d %b %Y}" in chart and f"lowest 30% on {low:%-d %b %Y}" in chart
    assert (
        f">{first:%-d %b %Y}</text>" in chart and f">{today:%-d %b %Y}</text>" in chart
    )  # dates on the axis
    assert ">100%</text>" in chart and ">0%</text>" in chart
    table = html[html.index('class="trend-table"') :]
    assert f"<td>{low:%-d %b %Y}</td><td>30%</td>" in table


def _sts_finding():
    from apps.readiness.models import Finding

    return Finding.objects.get(workload_name="fraud-scorer", rule="sts-regional-endpoints")


def test_an_sre_waives_a_finding_from_the_scorecard(
    client_for, sre, evaluated, django_capture_on_commit_callbacks
):
    from apps.audit.models import AuditEvent
    from apps.readiness.models import Waiver

    client = client_for(sre)
    finding = _sts_finding()
    html = client.get("/teams/payments/readiness/").content.decode()
    assert f'action="/teams/payments/readiness/findings/{finding.pk}/waive/"' in html
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(
            f"/teams/payments/readiness/findings/{finding.pk}/waive/",
            {"reason": "Pod Identity in May", "days": "30"},
        )
    assert response.status_code == 302
    assert (
        response["Location"]
        == "/teams/payments/readiness/#finding-payments-fraud-scorer-sts-regional-endpoints"
    )
    waiver = Waiver.objects.get()
    assert (waiver.rule, waiver.cluster, waiver.namespace, waiver.workload_name, waiver.created_by) == (
        "sts-regional-endpoints",
        evaluated,
        "payments",
        "fraud-scorer",
        sre,
    )
    finding.refresh_from_db()
    assert finding.is_exempt() and finding.exempt_reason == "Waived by an SRE: Pod Identity in May"  # at once
    assert len(queued) == 1  # and the cluster re-checked once committed
    event = AuditEvent.objects.get(action="config.waiver")
    assert event.outcome == "created" and event.team.slug == "payments" and event.actor_name == sre.username
    page = client.get(response["Location"]).content.decode()
    assert (
        "waived for payments/fraud-scorer until" in page
        and "exempt: Waived by an SRE: Pod Identity in May" in page
    )


def test_only_sres_are_offered_or_allowed_to_waive(client_for, alice, evaluated):
    from apps.readiness.models import Waiver

    finding = _sts_finding()
    client = client_for(alice)
    assert "Waive this finding" not in client.get("/teams/payments/readiness/").content.decode()
    response = client.post(
        f"/teams/payments/readiness/findings/{finding.pk}/waive/", {"reason": "x", "days": "7"}
    )
    assert response.status_code == 403 and not Waiver.objects.exists()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "  ", "days": "30"}, "The reason is required."),
        ({"reason": "later", "days": "3650"}, "lifetime"),
        ({"reason": "ok\u202egnp.exe", "days": "7"}, "use plain text"),
    ],
)
def test_a_refused_waiver_shows_the_form_again_with_what_was_typed(client_for, sre, evaluated, form, message):
    from apps.readiness.models import Waiver

    finding = _sts_finding()
    response = client_for(sre).post(f"/teams/payments/readiness/findings/{finding.pk}/waive/", form)
    html = response.content.decode()
    assert response.status_code == 400 and message in html, html[html.find('role="alert"') :][:300]
    assert '<details class="waive" open>' in html and not Waiver.objects.exists()

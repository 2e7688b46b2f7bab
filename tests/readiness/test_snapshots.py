"""The daily score snapshot, and the 30-day trend drawn from it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.clusters import sync
from apps.readiness import selectors
from apps.readiness.models import TeamScore
from apps.readiness.services import readiness_recompute, score_of, team_scores, team_scores_snapshot
from apps.readiness.tasks import readiness_snapshot
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluated(cluster):
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    return cluster


def test_score_is_the_share_of_applicable_checks_that_pass():
    assert score_of(0, 0) == 100
    assert score_of(40, 10) == 75
    assert score_of(3, 1) == 67


def test_the_snapshot_writes_one_row_per_team_and_day_and_rewrites_it(evaluated, teams):
    lonely = TeamFactory()  # no workloads: no score rather than a perfect one
    today = timezone.localdate()
    assert team_scores_snapshot() == 2
    row = TeamScore.objects.get(team=teams["payments"], day=today)
    live = team_scores()[teams["payments"].pk]
    assert (row.score, row.checks, row.failing) == (live["score"], live["checks"], live["failing"])
    assert 0 < row.score < 100 and row.workloads > 3
    TeamScore.objects.filter(pk=row.pk).update(score=1)
    team_scores_snapshot()
    assert TeamScore.objects.filter(team=teams["payments"], day=today).count() == 1
    assert TeamScore.objects.get(pk=row.pk).score == live["score"]
    assert not TeamScore.objects.filter(team=lonely).exists()


def test_the_beat_task_recomputes_then_snapshots(cluster, teams):
    sync.cluster_sync(cluster=cluster)  # the on-commit recompute does not run inside a test transaction
    assert readiness_snapshot() == 2
    assert TeamScore.objects.filter(day=timezone.localdate()).count() == 2


def test_the_trend_shows_30_days_of_snapshots_and_todays_live_score(evaluated, teams):
    team = teams["search"]
    today = timezone.localdate()
    TeamScore.objects.create(team=team, day=today - timedelta(days=40), score=5)  # too old to show
    for days_ago, score in ((29, 40), (15, 55), (1, 60)):
        TeamScore.objects.create(team=team, day=today - timedelta(days=days_ago), score=score)
    TeamScore.objects.create(team=team, day=today, score=1)  # an earlier snapshot of today
    card = selectors.team_scorecard(team=team)
    days = [day for day, _ in card.trend.points]
    assert days == [today - timedelta(days=29), today - timedelta(days=15), today - timedelta(days=1), today]
    assert card.trend.points[-1][1] == card.score
    assert card.trend.first == 40 and card.trend.change == card.score - 40
    xs = [float(point.split(",")[0]) for point in card.trend.polyline.split()]
    assert xs[0] == 0 and xs[-1] == card.trend.width
    ys = [float(point.split(",")[1]) for point in card.trend.polyline.split()]
    assert ys[0] == pytest.approx((100 - 40) * card.trend.height / 100)


def test_the_overview_lists_every_team_worst_first(evaluated, teams):
    TeamFactory(name="Zeta")
    lines = selectors.teams_overview()
    scored = [line for line in lines if line.score is not None]
    assert [line.score for line in scored] == sorted(line.score for line in scored)
    assert lines[-1].team.name == "Zeta" and lines[-1].score is None
    payments = next(line for line in lines if line.team == teams["payments"])
    assert dict((rule.id, n) for rule, n in payments.per_rule)["sts-regional-endpoints"] == 1

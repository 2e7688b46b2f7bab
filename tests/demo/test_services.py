"""Demo data exists only with SHIRUBE_DEMO on SQLite (DEBUG has no say), and `make run`'s steps work."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.clusters import sync
from apps.demo.services import demo_environments_seed, demo_scores_backfill, demo_seed
from apps.readiness import selectors
from apps.readiness.models import TeamScore
from apps.readiness.services import readiness_recompute

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_demo_data_is_refused_without_the_demo_setting(settings, debug):
    settings.SHIRUBE_DEMO, settings.DEBUG = False, debug  # debug pages are not a demo
    with pytest.raises(ImproperlyConfigured, match="SHIRUBE_DEMO is off"):
        demo_seed(password="x")


@pytest.mark.django_db
def test_demo_data_is_refused_on_postgresql(settings):
    settings.SHIRUBE_DEMO = True
    with pytest.raises(ImproperlyConfigured, match="postgresql"):
        demo_seed(password="x")
    with pytest.raises(ImproperlyConfigured, match="postgresql"):
        demo_environments_seed()


@pytest.mark.django_db
def test_the_demo_backfills_a_month_without_touching_real_snapshots(cluster, teams):
    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    yesterday = timezone.localdate() - timedelta(days=1)
    TeamScore.objects.create(team=teams["search"], day=yesterday, score=77)
    assert demo_scores_backfill() == 2 * 29 - 1
    assert demo_scores_backfill() == 0
    assert TeamScore.objects.get(team=teams["search"], day=yesterday).score == 77
    card = selectors.team_scorecard(team=teams["payments"])
    assert len(card.trend.points) == 30 and card.trend.first == 42


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_make_run_steps_build_a_working_demo_on_sqlite(tmp_path):
    env = {
        k: v for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    }  # fmt: skip
    # As `make run` does: the demo switch, DEBUG off (the product's own error pages), a local repository.
    env.update(
        DEBUG="false", SECRET_KEY="demo-test", SHIRUBE_DEMO="true", SHIRUBE_VAR_DIR=str(tmp_path),
        SHIRUBE_GIT_ALLOW_LOCAL="true",
    )  # fmt: skip
    outputs = {}
    for step in (  # as scripts/run_demo.py runs them (the demo cluster is not started here)
        ["migrate", "--no-input", "-v", "0"],
        ["load_content"],
        ["seed_demo"],
        ["seed_demo"],
        ["add_cluster", "demo", "--kubeconfig", str(tmp_path / "demo-kubeconfig"), "--context", "demo"],
        ["seed_demo_environments"],
    ):
        result = _manage(env, *step)
        assert result.returncode == 0, (step, result.stderr)
        outputs[step[0]] = result.stdout
    assert "alice" in outputs["seed_demo"] and "shirube-demo" in outputs["seed_demo"]
    # The environments read their tag from the demo repository the command created.
    assert "payments/checkout-api-staging (git tag v2.15.0-rc.1)" in outputs["seed_demo_environments"]
    assert (tmp_path / "shirube.sqlite3").exists()
    check = _manage(
        env, "shell", "-c",
        "from django.contrib.auth import authenticate; from apps.lessons.models import Lesson;"
        "from django.db import connection;"
        "print(connection.vendor, Lesson.objects.visible().count(),"
        " authenticate(username='alice', password='shirube-demo') is not None,"
        " authenticate(username='sre', password='shirube-demo').is_staff,"
        " connection.cursor().execute('PRAGMA journal_mode').fetchone()[0])",
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    vendor, lessons, alice_ok, sre_staff, journal = check.stdout.strip().splitlines()[-1].split()
    assert vendor == "sqlite" and int(lessons) >= 20
    assert alice_ok == "True" and sre_staff == "True" and journal == "wal"

"""Demo data exists only with SHIRUBE_DEMO on SQLite (DEBUG has no say), and `make run`'s steps work."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.accounts.demo import demo_seed

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
    # As `make run` does: the demo switch, and DEBUG off (the product's own error pages).
    env.update(DEBUG="false", SECRET_KEY="demo-test", SHIRUBE_DEMO="true", SHIRUBE_VAR_DIR=str(tmp_path))
    for step in (
        ["migrate", "--no-input", "-v", "0"],
        ["load_content"],
        ["seed_demo"],
        ["seed_demo"],
    ):
        result = _manage(env, *step)
        assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout and "shirube-demo" in result.stdout
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

"""The settings that separate the demo from debugging, and the broker the demo can rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh process with only these variables (and PATH)."""
    environ = {
        "PATH": os.environ["PATH"], "SECRET_KEY": "settings-test", "SHIRUBE_VAR_DIR": str(tmp_path),
        **variables,
    }  # fmt: skip
    script = (
        "import json\n"
        "from portal import settings as s\n"
        "print(json.dumps({'broker': s.CELERY_BROKER_URL, 'demo': s.SHIRUBE_DEMO, 'debug': s.DEBUG}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def values(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_default_broker_is_redis_and_the_demo_is_off(tmp_path):
    assert values(load_settings(tmp_path)) == {
        "broker": "redis://127.0.0.1:6379/0",
        "demo": False,
        "debug": False,
    }
    assert not (tmp_path / "celery-queue").exists()  # the filesystem transport's folders are gone


@pytest.mark.parametrize("url", ["filesystem://", "filesystem:///tmp/queue"])
def test_the_filesystem_broker_is_refused_with_the_reason(tmp_path, url):
    result = load_settings(tmp_path, CELERY_BROKER_URL=url)
    assert result.returncode != 0
    assert "kombu#1551" in result.stderr and "CELERY_BROKER_URL" in result.stderr


def test_the_demo_runs_without_debug_on_sqlite(tmp_path):
    loaded = values(load_settings(tmp_path, SHIRUBE_DEMO="true", DATABASE_URL="sqlite:///demo.sqlite3"))
    assert loaded["demo"] is True and loaded["debug"] is False


def test_the_demo_is_refused_with_postgresql(tmp_path):
    result = load_settings(tmp_path, SHIRUBE_DEMO="true", DATABASE_URL="postgres://u@127.0.0.1:5432/shirube")
    assert result.returncode != 0
    assert "SHIRUBE_DEMO is for the local SQLite demo only" in result.stderr


def test_a_malformed_demo_switch_stops_the_process(tmp_path):
    result = load_settings(tmp_path, SHIRUBE_DEMO="sure")
    assert result.returncode != 0 and "SHIRUBE_DEMO" in result.stderr

"""Headless Chromium (Debian's) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.tour import tour  # noqa: F401  (every main page with data behind it)
from tests.clusters.conftest import sim  # noqa: F401  (the kubesim fixture)
from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: F401  (browser, page, login: tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(tmp_path_factory):
    """A real Celery worker on the test Redis and the test database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    # Deployments step every second and keep their clone cache out of the project's var/.
    env["SHIRUBE_DEPLOY_POLL_SECONDS"] = "1"
    env["SHIRUBE_GITOPS_WORKDIR"] = str(tmp_path_factory.mktemp("gitops-work"))
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield process
    process.terminate()
    process.wait(30)


@pytest.fixture
def cluster(sim, tmp_path):  # noqa: F811  (sim: the imported kubesim fixture)
    """The demo teams and a Cluster row for the kubesim demo server (transactional tests: no `db`)."""
    from apps.accounts.services import team_ensure
    from apps.clusters.services import cluster_declare

    team_ensure(slug="payments", name="Payments")
    team_ensure(slug="search", name="Search")
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    return cluster_declare(name="demo", connection="kubeconfig", kubeconfig_path=str(path), context="demo")[0]

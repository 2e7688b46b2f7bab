"""The CI flow of docs/api.md, run as CI runs it: scripts/ci-deploy.sh over HTTP with a team token
deploys a branch tag to staging (real git, kubesim playing Flux) and waits for healthy."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from django.db import connection

from apps.api.services import token_create
from apps.environments import runner
from apps.environments.models import Deployment
from tests.environments.runnerfixtures import BRANCH_TAG

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ci-deploy.sh"


def _worker(flux, stop: threading.Event) -> None:
    """The worker's part: step every deployment that is not done, Flux between steps."""
    try:
        while not stop.is_set():
            for pk in Deployment.objects.exclude(status__in=Deployment.FINISHED).values_list("pk", flat=True):
                runner.deployment_advance(deployment_id=pk)
            flux()
            stop.wait(0.2)
    finally:
        connection.close()


def _run(live_server, value: str, tag: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "SHIRUBE_URL": live_server.url, "SHIRUBE_TOKEN": value,
           "SHIRUBE_POLL_SECONDS": "0.5", "SHIRUBE_WAIT_SECONDS": "90"}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT), "payments", "checkout-api-staging", tag], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_ci_deploys_a_branch_tag_to_staging_and_waits_for_healthy(live_server, people, teams, staging, flux):
    staging.allow_service_tokens = True
    staging.save()
    _token, value = token_create(by=people["lead"], name="GitHub Actions", scopes=["read", "deploy"],
                                 team=teams["payments"], environments=[staging])  # fmt: skip
    stop = threading.Event()
    worker = threading.Thread(target=_worker, args=(flux, stop))
    worker.start()
    try:
        result = _run(live_server, value, BRANCH_TAG)
    finally:
        stop.set()
        worker.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "healthy" in result.stdout
    deployment = Deployment.objects.get()
    assert deployment.status == "healthy" and deployment.tag == BRANCH_TAG and deployment.channel == "api"
    staging.refresh_from_db()
    assert staging.git_tag == BRANCH_TAG
    assert value not in result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_ci_fails_the_job_when_the_environment_refuses(live_server, people, teams, staging):
    _token, value = token_create(by=people["lead"], name="GitHub Actions", scopes=["read", "deploy"],
                                 team=teams["payments"], environments=[staging])  # fmt: skip
    result = _run(live_server, value, BRANCH_TAG)
    assert result.returncode == 1
    assert "does not take service tokens" in result.stderr
    assert not Deployment.objects.exists()

"""A worker killed mid-commit: its deployment recovers in seconds, never commits twice (issue 11).

Before: the environment stayed blocked for SHIRUBE_DEPLOY_COMMIT_TIMEOUT (300 s)
and then the deployment failed, even when its commit had landed. Now the
committing worker beats while git runs and records the commit it hands to
`git push`; once the beats stop, the next step takes the deployment over and
asks the remote whether that commit landed before committing anything itself.

The worker here is a real process running the real runner against the test
database, killed with SIGKILL while a real `git push` waits in the remote's
pre-receive hook. Its git push outlives it, as it would under Celery, and the
hook then lets it land or refuses it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments import runner
from apps.environments.models import Deployment
from tests.environments.runnerfixtures import BRANCH_TAG, drive, git, request

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def gate(repo, tmp_path):
    """A pre-receive hook that holds every push until released, then lets it land or refuses it."""
    state = tmp_path / "hook"
    state.mkdir()
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"touch '{state}/waiting'\n"
        f"while [ ! -e '{state}/release' ]; do sleep 0.05; done\n"
        f"[ -e '{state}/refuse' ] && {{ echo 'main is frozen' >&2; exit 1; }}\n"
        "exit 0\n"
    )
    hook.chmod(0o755)

    class Gate:
        waiting = state / "waiting"

        def release(self, *, land: bool) -> None:
            if not land:
                (state / "refuse").touch()
            (state / "release").touch()

        def remove(self) -> None:
            hook.unlink()

    return Gate()


@pytest.fixture
def worker_process(settings):
    """Start the runner's step for a deployment in a real process on the test database."""
    processes: list[subprocess.Popen] = []

    def start(deployment_id: int) -> subprocess.Popen:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SHIRUBE_GITOPS_WORKDIR": str(settings.SHIRUBE_GITOPS_WORKDIR),
        }
        script = (
            "import django\n"
            "django.setup()\n"
            "from apps.environments import runner\n"
            f"runner.deployment_advance(deployment_id={deployment_id})\n"
        )
        process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def kill_mid_push(deployment, gate, worker_process) -> Deployment:
    """Run the commit step in a worker, and SIGKILL the worker while its push waits in the hook."""
    worker = worker_process(deployment.pk)
    wait_for(lambda: gate.waiting.exists() or worker.poll() is not None, "the worker's push")
    assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deployment.refresh_from_db()
    return deployment


def commits_of(repo, deployment) -> list[str]:
    return git(repo, "log", "--format=%H", f"--grep=deployment #{deployment.pk},", "main").split()


def stop_beating(deployment, settings) -> None:
    """Past the commit timeout since the dead worker's last beat (rather than sleeping through it)."""
    Deployment.objects.filter(pk=deployment.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_COMMIT_TIMEOUT + 1)
    )


def test_a_worker_killed_after_its_push_landed_is_recovered_without_a_second_commit(
    staging, alice, repo, flux, gate, worker_process, settings
):
    deployment = request(alice, staging)
    before = git(repo, "rev-parse", "main").strip()

    deployment = kill_mid_push(deployment, gate, worker_process)

    # What the dead worker left: the commit step claimed, the commit it was pushing recorded.
    assert deployment.status == "committing" and deployment.pushing_sha
    assert deployment.previous_tag == "v2.15.0-rc.1"
    # While the worker would still be within its beat, nobody takes over.
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    assert Deployment.objects.get(pk=deployment.pk).status == "committing"

    gate.release(land=True)  # the orphaned push completes after its worker died
    wait_for(lambda: git(repo, "rev-parse", "main").strip() != before, "the orphaned push to land")
    gate.remove()
    stop_beating(deployment, settings)
    assert deployment.pk in runner.deployments_stalled(), "the watchdog restarts it"

    seen = drive(deployment, flux)

    assert seen[-1] == "healthy", deployment.message
    assert deployment.sha == git(repo, "rev-parse", "main").strip() == deployment.pushing_sha
    assert commits_of(repo, deployment) == [deployment.sha], "exactly one commit for this deployment"
    assert deployment.previous_tag == "v2.15.0-rc.1"
    events = AuditEvent.objects.filter(correlation=f"deployment-{deployment.pk}")
    assert events.filter(outcome="recovering").count() == 1
    assert "landed" in events.get(outcome="committed").message


def test_a_worker_killed_before_its_push_landed_is_recovered_by_committing_once(
    staging, alice, repo, flux, gate, worker_process, settings
):
    deployment = request(alice, staging)
    before = git(repo, "rev-parse", "main").strip()

    deployment = kill_mid_push(deployment, gate, worker_process)
    dead_workers_commit = deployment.pushing_sha
    gate.release(land=False)  # the remote refuses the orphaned push: nothing landed
    time.sleep(0.5)
    gate.remove()
    assert git(repo, "rev-parse", "main").strip() == before
    stop_beating(deployment, settings)

    seen = drive(deployment, flux)

    assert seen[-1] == "healthy", deployment.message
    assert commits_of(repo, deployment) == [deployment.sha], "exactly one commit for this deployment"
    # (The new commit can have the dead worker's sha: same parent, tree, author and second.)
    events = AuditEvent.objects.filter(correlation=f"deployment-{deployment.pk}")
    assert dead_workers_commit[:7] in events.get(outcome="recovering").message
    assert "although its worker stopped" not in events.get(outcome="committed").message, "committed anew"
    assert deployment.previous_tag == "v2.15.0-rc.1"
    staging.refresh_from_db()
    assert staging.git_tag == BRANCH_TAG


def test_a_live_worker_keeps_its_deployment_and_beats_while_git_waits(
    staging, alice, repo, gate, worker_process, settings
):
    deployment = request(alice, staging)
    worker = worker_process(deployment.pk)
    wait_for(gate.waiting.exists, "the worker's push")
    first = Deployment.objects.get(pk=deployment.pk).heartbeat_at

    # The push is held for longer than a beat: the worker still says it is alive.
    wait_for(lambda: Deployment.objects.get(pk=deployment.pk).heartbeat_at > first, "a heartbeat", timeout=15)
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    gate.release(land=True)
    assert worker.wait(30) == 0, worker.stderr.read().decode()[-3000:]

    deployment.refresh_from_db()
    assert deployment.status == "committed" and commits_of(repo, deployment) == [deployment.sha]


def test_a_worker_that_was_taken_over_stops_without_touching_git_or_the_deployment(staging, alice, repo):
    """The slow-but-alive case: once another worker took over, the first one's next beat stops it."""
    deployment = request(alice, staging)
    before = git(repo, "rev-parse", "main").strip()
    Deployment.objects.filter(pk=deployment.pk).update(
        status="committing", worker="slow-worker", heartbeat_at=timezone.now()
    )
    deployment.refresh_from_db()
    Deployment.objects.filter(pk=deployment.pk).update(worker="the-one-that-took-over")

    assert runner._commit(deployment) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.worker, deployment.pushing_sha) == (
        "committing", "the-one-that-took-over", ""
    )  # fmt: skip
    assert git(repo, "rev-parse", "main").strip() == before


def test_recovery_that_cannot_read_the_remote_fails_and_says_what_to_check(staging, alice, repo, settings):
    deployment = request(alice, staging)
    Deployment.objects.filter(pk=deployment.pk).update(
        status="committing", worker="dead", pushing_sha="a" * 40,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_COMMIT_TIMEOUT + 1),
    )  # fmt: skip
    repo.rename(repo.with_name("moved.git"))

    assert runner.deployment_advance(deployment_id=deployment.pk) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "commit")
    assert "aaaaaaa" in deployment.message and "history" in deployment.message

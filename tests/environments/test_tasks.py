"""The Celery tasks: one step per run, re-queued until finished; the watchdog and the git refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.environments import tasks
from apps.environments.models import Deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    sent: list[tuple] = []

    def capture(task):
        def apply_async(args=(), countdown=None, expires=None, **kwargs):
            sent.append((task.name.rsplit(".", 1)[-1], args, countdown or expires))

        return apply_async

    for task in (tasks.deployment_advance, tasks.environment_refresh):
        monkeypatch.setattr(task, "apply_async", capture(task))
        monkeypatch.setattr(task, "delay", lambda *args, _task=task: capture(_task)(args))
    return sent


def test_a_step_that_must_wait_queues_the_next_one_after_the_poll_delay(envs, people, queued, settings):
    Deployment.objects.create(environment=envs["staging"], kind="deploy", tag="v1", status="reconciling",
                                     idempotency_key="busy")  # fmt: skip
    waiting = Deployment.objects.create(
        environment=envs["staging"], kind="deploy", tag="v2", idempotency_key="w"
    )
    assert tasks.deployment_advance.run(waiting.pk) == "continuing"
    assert queued == [("deployment_advance", (waiting.pk,), float(settings.SHIRUBE_DEPLOY_POLL_SECONDS))]


def test_a_finished_or_deleted_deployment_stops_the_chain(envs, queued):
    done = Deployment.objects.create(environment=envs["staging"], kind="deploy", tag="v1", status="healthy",
                                     idempotency_key="done")  # fmt: skip
    assert tasks.deployment_advance.run(done.pk) == "finished"
    assert tasks.deployment_advance.run(999_999) == "finished"
    assert queued == []


def test_the_watchdog_restarts_lost_chains(envs, queued):
    lost = Deployment.objects.create(environment=envs["staging"], kind="deploy", tag="v1", idempotency_key="lost",
                                     polled_at=timezone.now() - timedelta(minutes=10))  # fmt: skip
    Deployment.objects.create(environment=envs["staging"], kind="deploy", tag="v2", idempotency_key="live",
                              polled_at=timezone.now())  # fmt: skip
    assert tasks.deployments_watchdog.run() == 1
    assert queued == [("deployment_advance", (lost.pk,), None)]


def test_git_is_read_for_every_environment(envs, queued, settings):
    assert tasks.environments_refresh_all.run() == 2
    assert sorted(q[1][0] for q in queued) == sorted([envs["staging"].pk, envs["production"].pk])
    assert all(q[2] == settings.SHIRUBE_GIT_REFRESH_INTERVAL for q in queued)


def test_a_refresh_of_an_unreachable_repository_records_the_error(envs):
    assert tasks.environment_refresh.run(envs["staging"].pk) == "error"
    envs["staging"].refresh_from_db()
    assert "/nonexistent.git" in envs["staging"].git_error
    assert tasks.environment_refresh.run(999_999) == "gone"

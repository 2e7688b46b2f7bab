"""Flux actions wait for Flux one step per task run: re-queued with a delay, never in a sleep;
a deadline; a watchdog for chains lost with the broker; the outcome recorded once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.clusters import flux_actions, flux_runner, kube, tasks
from apps.clusters.models import FluxAction, FluxObject
from kubesim.flux import reconcile_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """What the tasks queue, instead of sending it to the broker: (task, args, countdown)."""
    sent: list[tuple] = []

    def capture(task):
        def apply_async(args=(), countdown=None, **kwargs):
            sent.append((task.name.rsplit(".", 1)[-1], tuple(args), countdown))

        return apply_async

    for task in (tasks.flux_action_advance, tasks.cluster_sync):
        monkeypatch.setattr(task, "apply_async", capture(task))
        monkeypatch.setattr(task, "delay", lambda *args, _task=task: capture(_task)(args))
    return sent


@pytest.fixture
def no_sleep(monkeypatch):
    """A step that sleeps fails the test: waiting is the broker's countdown, never a worker's."""

    def refuse(seconds):
        raise AssertionError(f"a step slept {seconds} s")

    monkeypatch.setattr(time, "sleep", refuse)


def kustomization() -> FluxObject:
    return FluxObject.objects.select_related("cluster").get(kind="Kustomization", name="payments-apps")


def request(user, action="reconcile", **fields) -> FluxAction:
    flux_action = flux_actions.flux_action_request(
        user=user, obj=kustomization(), action=action, reason="x" if action == "suspend" else ""
    )
    if fields:
        FluxAction.objects.filter(pk=flux_action.pk).update(**fields)
    return flux_action


def test_each_run_takes_one_step_and_queues_the_next_until_flux_answers(
    synced, sim, alice, queued, no_sleep, django_capture_on_commit_callbacks
):
    action = request(alice)
    started = time.monotonic()
    assert tasks.flux_action_advance.run(action.pk) == "continuing"  # the patches
    assert tasks.flux_action_advance.run(action.pk) == "continuing"  # a look: not acknowledged yet
    assert time.monotonic() - started < 5, "a step only sends and reads; it never waits for Flux"
    assert queued == [("flux_action_advance", (action.pk,), flux_runner.POLL_SECONDS)] * 2
    waiting = FluxAction.objects.get(pk=action.pk)
    assert waiting.status == "waiting" and waiting.step_started_at and waiting.polled_at

    reconcile_step(sim.store)  # Flux handles the request
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.flux_action_advance.run(action.pk) == "finished"
    assert FluxAction.objects.get(pk=action.pk).status == "succeeded"
    assert queued == [("cluster_sync", (synced.pk,), None)], "a sync, so the pages show the outcome"


def test_a_finished_or_deleted_action_ends_the_chain(synced, alice, queued):
    done = request(alice, status="succeeded", finished_at=timezone.now())
    assert tasks.flux_action_advance.run(done.pk) == "finished"
    assert tasks.flux_action_advance.run(999_999) == "finished"
    assert queued == []


def test_the_deadline_counts_from_the_request_sent_to_flux(synced, alice, settings, queued):
    action = request(alice)
    tasks.flux_action_advance.run(action.pk)  # sent: the deadline starts now
    sent = FluxAction.objects.get(pk=action.pk).step_started_at
    FluxAction.objects.filter(pk=action.pk).update(
        step_started_at=sent - timedelta(seconds=settings.SHIRUBE_RECONCILE_TIMEOUT - 5)
    )
    assert tasks.flux_action_advance.run(action.pk) == "continuing"  # 5 s left
    FluxAction.objects.filter(pk=action.pk).update(
        step_started_at=sent - timedelta(seconds=settings.SHIRUBE_RECONCILE_TIMEOUT + 1)
    )
    assert tasks.flux_action_advance.run(action.pk) == "finished"
    timed_out = FluxAction.objects.get(pk=action.pk)
    assert timed_out.status == "timed_out" and "it may still do so" in timed_out.message
    assert AuditEvent.objects.filter(correlation=str(action.pk), outcome="timed out").count() == 1


def test_a_failed_look_while_waiting_is_retried_until_the_deadline(synced, sim, alice, settings, queued):
    action = request(alice)
    tasks.flux_action_advance.run(action.pk)
    fault = sim.add_fault(r".*/kustomizations/payments-apps", method="GET", status=500)
    assert tasks.flux_action_advance.run(action.pk) == "continuing"  # the request was sent: look again
    assert FluxAction.objects.get(pk=action.pk).status == "waiting"
    FluxAction.objects.filter(pk=action.pk).update(
        step_started_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_RECONCILE_TIMEOUT + 1)
    )
    assert tasks.flux_action_advance.run(action.pk) == "finished"
    timed_out = FluxAction.objects.get(pk=action.pk)
    assert timed_out.status == "timed_out" and "the last look failed" in timed_out.message
    assert "HTTP 500" in timed_out.message and "127.0.0.1" not in timed_out.message
    assert fault.hits >= 2


def test_the_watchdog_restarts_lost_chains_and_they_finish(synced, sim, alice, queued):
    long_ago = timezone.now() - timedelta(minutes=10)
    never_stepped = request(alice, requested_at=long_ago)  # its first task was lost
    stalled = request(alice, status="waiting", step_started_at=long_ago, polled_at=long_ago)
    request(alice, status="waiting", step_started_at=timezone.now(), polled_at=timezone.now())  # alive
    request(alice, requested_at=timezone.now())  # just asked: its task is on its way
    request(alice, status="failed", requested_at=long_ago, polled_at=long_ago, finished_at=long_ago)

    assert tasks.flux_actions_watchdog.run() == 2
    assert sorted(queued) == sorted(
        [("flux_action_advance", (never_stepped.pk,), None), ("flux_action_advance", (stalled.pk,), None)]
    )
    # The restarted chain carries on from where the row says it is.
    assert tasks.flux_action_advance.run(never_stepped.pk) == "continuing"
    reconcile_step(sim.store)
    assert tasks.flux_action_advance.run(never_stepped.pk) == "finished"
    assert FluxAction.objects.get(pk=never_stepped.pk).status == "succeeded"
    assert FluxAction.objects.get(pk=never_stepped.pk).polled_at > long_ago


def test_two_chains_on_one_action_record_its_outcome_once(synced, sim, alice, queued):
    """A watchdog's chain and a late original both step the action: one outcome, one audit event."""
    action = request(alice)
    tasks.flux_action_advance.run(action.pk)
    reconcile_step(sim.store)
    first, second = FluxAction.objects.get(pk=action.pk), FluxAction.objects.get(pk=action.pk)
    path = kube.object_path(first.api_version, first.kind, first.namespace, first.name)
    assert flux_runner._step_waiting(first, path) is None
    assert flux_runner._step_waiting(second, path) is None  # it too saw the answer, and lost the race
    outcomes = list(AuditEvent.objects.filter(correlation=str(action.pk)).values_list("outcome", flat=True))
    assert sorted(outcomes) == ["requested", "succeeded"]

"""Stepping a Flux action as its task chain would, for the tests (no Celery worker)."""

from __future__ import annotations

import time
from collections.abc import Callable

from apps.clusters import flux_runner
from apps.clusters.models import FluxAction


def drive(action_id: int, *, flux: Callable[[], None] | None = None, pause: float = 0.0, steps: int = 100):
    """Take steps until the action is finished; returns it.

    Between two steps, `flux` plays Flux once (kubesim's reconcile_step), or the test
    waits `pause` seconds for a Flux running elsewhere, where the task's countdown
    would have waited.
    """
    for _ in range(steps):
        if flux_runner.flux_action_advance(action_id=action_id) is None:
            return FluxAction.objects.get(pk=action_id)
        if flux is not None:
            flux()
        time.sleep(pause)
    action = FluxAction.objects.get(pk=action_id)
    raise AssertionError(f"still {action.status} after {steps} steps: {action.message}")

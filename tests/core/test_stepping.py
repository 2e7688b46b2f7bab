"""The stepping machinery deployments and Flux actions share (apps.core.stepping), and its rule:
no task waits for the world outside in a sleep."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.clusters.models import Cluster, FluxAction
from apps.core.stepping import (
    STALLED_AFTER_SECONDS,
    chains_restart,
    past,
    step_next,
    step_taken,
    steps_stalled,
)

ROOT = Path(__file__).resolve().parents[2]


class Task:
    """Records what a Celery task would have been asked to queue."""

    def __init__(self):
        self.sent = []

    def apply_async(self, args, countdown=None):
        self.sent.append((args, countdown))

    def delay(self, *args):
        self.sent.append((args, None))


def test_a_chain_continues_after_the_delay_the_step_asked_for_and_ends_on_none():
    task = Task()
    assert step_next(task, 7, 2.5) == "continuing"
    assert step_next(task, 7, 0.0) == "continuing"
    assert step_next(task, 7, None) == "finished"
    assert task.sent == [((7,), 2.5), ((7,), 0.0)]


def test_a_deadline_is_past_only_after_its_seconds():
    assert not past(timezone.now() - timedelta(seconds=9), 10)
    assert past(timezone.now() - timedelta(seconds=11), 10)


@pytest.mark.django_db
def test_stalled_rows_are_those_nobody_stepped_for_a_while_or_ever():
    cluster = Cluster.objects.create(name="c", connection="in_cluster")
    now = timezone.now()
    old = now - timedelta(seconds=STALLED_AFTER_SECONDS + 5)

    def action(**fields):
        return FluxAction.objects.create(cluster=cluster, kind="Kustomization", api_version="v1",
                                         namespace="ns", name="n", action="reconcile", **fields)  # fmt: skip

    lost_first = action(requested_at=old)  # its first task never ran
    lost_later = action(requested_at=old, polled_at=old)
    action(requested_at=old, polled_at=now)  # stepped just now
    action(requested_at=now)  # its first task is on its way
    stalled = steps_stalled(FluxAction.objects.all(), poll_seconds=2)
    assert set(stalled.values_list("pk", flat=True)) == {lost_first.pk, lost_later.pk}
    # A slow poll stretches the allowance: five polls.
    assert not steps_stalled(FluxAction.objects.all(), poll_seconds=STALLED_AFTER_SECONDS).exists()

    step_taken(FluxAction.objects.filter(pk=lost_later.pk))
    assert set(steps_stalled(FluxAction.objects.all(), poll_seconds=2).values_list("pk", flat=True)) == {
        lost_first.pk
    }
    task = Task()
    assert chains_restart(task, [lost_first.pk]) == 1 and task.sent == [((lost_first.pk,), None)]


# The one sleep under apps/: taking a local file lock on a clone that another worker's git
# holds for seconds (bounded by the lock timeout). It never waits for a cluster or for Flux.
ALLOWED_SLEEPS = {("apps/environments/gitops/git.py", "clone_locked")}


def sleeps_under_apps(root: Path = ROOT) -> set[tuple[str, str]]:
    """(file, function) of every call to time.sleep (or a bare sleep imported from time) under apps/."""
    found = set()
    for path in sorted((root / "apps").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                called = node.func
                if (isinstance(called, ast.Attribute) and called.attr == "sleep") or (
                    isinstance(called, ast.Name) and called.id == "sleep"
                ):
                    found.add((str(path.relative_to(root)), function.name))
    return found


def test_no_step_waits_for_the_world_outside_in_a_sleep():
    found = sleeps_under_apps()
    assert found - ALLOWED_SLEEPS == set(), "wait with a re-queued step (apps.core.stepping), not a sleep"
    assert found >= ALLOWED_SLEEPS, "the allowed sleep is gone: drop it from the list"


def test_the_sleep_scan_finds_a_sleep_loop(tmp_path):
    """The scan above can fail: a Flux wait written the old way is found."""
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/waiting.py").write_text(
        "import time\n\ndef wait_for_flux(api):\n    while True:\n        time.sleep(2)\n"
    )
    assert sleeps_under_apps(tmp_path) == {("apps/waiting.py", "wait_for_flux")}

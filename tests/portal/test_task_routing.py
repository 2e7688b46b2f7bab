"""SHIRUBE_TASK_ROUTING: every task lands on one of the queues the chart's workers consume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

ROUTES = """
import json
import django
django.setup()
from portal.celery import app
app.loader.import_default_modules()
names = sorted(n for n in app.tasks if n.startswith("apps."))
print(json.dumps({n: app.amqp.router.route({}, n)["queue"].name for n in names}))
"""


def routes(**env: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", ROUTES], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_routing_each_kind_of_work_has_its_queue():
    queues = routes(SHIRUBE_TASK_ROUTING="true")
    assert queues["apps.clusters.tasks.cluster_sync"] == "sync"
    assert queues["apps.clusters.tasks.clusters_sync_all"] == "sync"
    assert queues["apps.readiness.tasks.readiness_recompute"] == "sync"
    assert queues["apps.environments.tasks.deployment_advance"] == "deployments"
    assert queues["apps.clusters.tasks.flux_action_advance"] == "deployments"
    assert queues["apps.lessons.tasks.lessons_rerender_stale"] == "celery"
    # A watchdog runs with the work it restarts, never on the live-sync watch queue.
    assert queues["apps.clusters.tasks.flux_actions_watchdog"] == "deployments"
    assert queues["apps.environments.tasks.deployments_watchdog"] == "deployments"
    # The live-sync sessions (issue 18) and the notifications outbox (issue 16) have their own.
    assert queues["apps.clusters.tasks.cluster_watch"] == "watch"
    notifications = {name: queue for name, queue in queues.items() if name.startswith("apps.notifications.")}
    assert notifications and set(notifications.values()) == {"notifications"}
    # Every queue a task can land on is one the chart knows (and refuses to leave without a worker).
    assert set(queues.values()) <= set(settings.SHIRUBE_TASK_QUEUES)


def test_without_routing_everything_but_the_watch_sessions_stays_on_the_default_queue():
    # Watch sessions hold a pool slot for minutes: always on `watch` (make run has its worker).
    queues = routes(SHIRUBE_TASK_ROUTING="false")
    assert queues.pop("apps.clusters.tasks.cluster_watch") == "watch"
    assert set(queues.values()) == {"celery"}

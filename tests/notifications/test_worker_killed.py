"""A real Celery worker killed at the two points that matter: nothing lost, at most one duplicate.

The worker is a real `celery worker` process on the harness's Redis and the test database,
sending to the Slack stand-in; it is killed with SIGKILL. Before the call: it is blocked
taking the delivery (a row lock the test holds) and dies before the `sending` mark; after
a restart the delivery is sent once. Inside the window: the stand-in has received the
message and holds its answer; the worker dies before recording `sent`; after a restart the
message is sent again: one duplicate, never more.
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
from django.db import connection, transaction
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Delivery, SlackLink
from tests.environments.test_runner_recovery import wait_for
from tests.factories import UserFactory
from tests.harness.notify_fixtures import BOT_TOKEN

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(slack):
    """Start a real Celery worker (solo pool) against the test database and the Slack stand-in."""
    from portal.celery import app

    app.control.purge()  # tasks other tests queued for rows that no longer exist
    processes: list[subprocess.Popen] = []
    db = connection.settings_dict

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "SHIRUBE_SLACK_BOT_TOKEN": BOT_TOKEN,
            "SHIRUBE_SLACK_API_URL": slack.api_url,
            "SHIRUBE_SLACK_TIMEOUT": "20",
            "PYTHONPATH": str(ROOT),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=WARNING",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def carol(db):
    user = UserFactory(username="carol")
    SlackLink.objects.create(user=user, slack_team_id="T0SHIRUBE", slack_user_id="U0CAROL", via="code")
    return user


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_before_the_call_it_is_delivered_once_after_a_restart(slack, worker, carol):
    with transaction.atomic():
        services.notification_enqueue(kind="approval.requested", title="approve 1.2.3", users=[carol])
    delivery = Delivery.objects.get()
    with transaction.atomic():
        Delivery.objects.select_for_update().get(pk=delivery.pk)  # the worker's claim waits on this lock
        first = worker()

        def blocked() -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE 'UPDATE%%notifications_delivery%%'"
                )
                return cursor.fetchone()[0] > 0

        wait_for(blocked, "the worker to try to take the delivery", timeout=25)
        kill(first)
    # PostgreSQL notices the dead client only after running what it was waiting to run: the dead
    # worker's claim may still land once the lock is released. Either way nothing reached Slack.
    time.sleep(1)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) in {("pending", 0), ("sending", 1)}
    assert slack.posted() == []

    # After the restart, the sweep finds what nobody sends (a claim with no worker behind it, or
    # a due delivery nobody took) and queues it again: moved past both limits rather than slept.
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=services.LOST_AFTER_SECONDS + 1),
        sending_at=timezone.now() - timedelta(seconds=services.SENDING_TIMEOUT_SECONDS + 1),
    )
    assert services.deliveries_recover() == 1
    worker()
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == "sent", "the delivery to be sent")
    time.sleep(1)  # room for a second send, if there were one
    assert len(slack.posted("U0CAROL")) == 1


def test_killed_inside_the_window_it_arrives_at_most_twice(slack, worker, carol):
    slack.hold.clear()  # Slack receives the message, then holds its answer
    first = worker()
    with transaction.atomic():
        services.notification_enqueue(kind="approval.requested", title="approve 1.2.3", users=[carol])
    wait_for(lambda: slack.posted("U0CAROL"), "the worker's call to reach Slack")
    kill(first)
    slack.hold.set()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sending", 1)

    # Not yet: a worker that is only slow keeps its delivery.
    assert services.deliveries_recover() == 0
    assert Delivery.objects.get(pk=delivery.pk).status == "sending"
    # Past the sending timeout (moved rather than slept through), the sweep sends it again.
    Delivery.objects.filter(pk=delivery.pk).update(
        sending_at=timezone.now() - timedelta(seconds=services.SENDING_TIMEOUT_SECONDS + 1)
    )
    services.deliveries_recover()
    worker()
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == "sent", "the delivery to be sent again")
    time.sleep(1)
    assert len(slack.posted("U0CAROL")) == 2  # one duplicate, and no more
    assert Delivery.objects.get(pk=delivery.pk).attempts == 2

"""Benchmark: from an event's commit to Slack receiving its message, and 1,000 notifications at once.

A real PostgreSQL, a real Redis broker, a real Celery worker process (two worker processes,
as `make run` and the production manifests run it), and the Slack Web API stand-in the tests
use (tests/harness/slack_standin.py). The event is a real one: an approval request (the
approval, its audit event and the lead's notification in one transaction); the clock starts
when that transaction has committed and stops when the stand-in has the message, EVENTS times
with the worker otherwise idle. Then 1,000 notifications are written in one transaction, and
the benchmark waits until every one has arrived, checking each arrived exactly once.
Prints a table and writes bench/results/notifications.json.
Usage: python bench/notifications.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402
from tests.harness.slack_standin import SlackStandIn  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "40"))
BURST = int(os.environ.get("BENCH_BURST", "1000"))
BURST_TIMEOUT = 600.0


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shirube-bench-notify-"))
    postgres = PostgresServer(dbname="shirube_bench_notify").start()
    slack = SlackStandIn().start()
    worker = None
    try:
        os.environ.update(SHIRUBE_SLACK_BOT_TOKEN="xoxb-bench", SHIRUBE_SLACK_API_URL=slack.api_url)
        django_on(postgres.url, str(tmp))
        from django.db import transaction

        from apps.accounts.models import Membership
        from apps.accounts.services import membership_set, team_ensure, user_ensure
        from apps.clusters.models import Cluster
        from apps.environments.models import Environment
        from apps.environments.services import approval_request
        from apps.notifications.models import Delivery, SlackLink
        from apps.notifications.services import notification_enqueue

        team = team_ensure(slug="payments", name="Payments")
        team.slack_channel = "C0PAYMENTS"
        team.save()
        alice = user_ensure(username="alice", password="x" * 20)
        carol = user_ensure(username="carol", password="x" * 20)
        membership_set(user=alice, team=team, role=Membership.Role.MEMBER)
        membership_set(user=carol, team=team, role=Membership.Role.LEAD)
        SlackLink.objects.create(user=carol, slack_team_id="T0", slack_user_id="U0CAROL", via="code")
        cluster = Cluster.objects.create(name="bench", kubeconfig_path="/nonexistent")
        production = Environment.objects.create(
            team=team, app="checkout-api", stage="production", cluster=cluster, namespace="payments",
            kustomization="flux-system/payments", repo_url="https://git.example.com/gitops.git",
            kustomization_path="apps/payments/kustomization.yaml", image="checkout-api",
            requires_approval=True,
        )  # fmt: skip

        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency=2",
             "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Warm up: the worker is up and has sent one message.
        approval_request(user=alice, environment=production, tag="v0.0.0")
        wait(lambda: len(slack.posted("U0CAROL")) == 1, 120)

        latencies = []
        for n in range(1, EVENTS + 1):
            before = len(slack.posted("U0CAROL"))
            approval_request(user=alice, environment=production, tag=f"v1.0.{n}")  # commits on return
            committed = time.monotonic()
            wait(lambda before=before: len(slack.posted("U0CAROL")) > before, 30)
            arrived = [c for c in slack.calls if c.method == "chat.postMessage"][-1].at
            latencies.append(arrived - committed)
            time.sleep(0.2)  # idle between events

        slack.calls.clear()
        started = time.monotonic()
        with transaction.atomic():
            for n in range(BURST):
                notification_enqueue(kind="flux.health", title=f"burst {n}", team=team, team_channel=True)
        enqueued = time.monotonic()
        wait(lambda: len(slack.posted("C0PAYMENTS")) >= BURST, BURST_TIMEOUT)
        delivered = time.monotonic()
        time.sleep(2)  # room for a duplicate to show
        counts = Counter(m["text"] for m in slack.posted("C0PAYMENTS"))
        sent = Delivery.objects.filter(notification__kind="flux.health", status="sent").count()

        results = {
            "events": EVENTS,
            "commit_to_slack_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "commit_to_slack_p95_ms": round(p95(latencies) * 1000, 1),
            "commit_to_slack_max_ms": round(max(latencies) * 1000, 1),
            "burst": BURST,
            "burst_enqueue_s": round(enqueued - started, 2),
            "burst_all_delivered_s": round(delivered - enqueued, 2),
            "burst_per_second": round(BURST / (delivered - enqueued), 1),
            "burst_distinct_received": len(counts),
            "burst_received_more_than_once": sum(1 for c in counts.values() if c > 1),
            "burst_deliveries_marked_sent": sent,
        }
        width = max(len(k) for k in results)
        for key, value in results.items():
            print(f"{key:<{width}}  {value}")
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "notifications.json").write_text(json.dumps(results, indent=2))
        ok = (
            results["commit_to_slack_p95_ms"] < 2000
            and len(counts) == BURST
            and results["burst_received_more_than_once"] == 0
            and sent == BURST
        )
        if not ok:
            raise SystemExit("notifications benchmark: a target was missed (p95 < 2 s; each of 1,000 once)")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        slack.stop()
        postgres.stop()


if __name__ == "__main__":
    main()

"""Benchmark: the home page's server time and SQL queries with the demo's data.

The demo cluster (kubesim, synced over HTTP), the whole curriculum from content/,
readiness findings computed from the sync, the demo environments, a history of
deployments and open approval requests; then again with ten times the deployments,
approvals and problem pods, to show that the query count does not grow. Target:
p95 under 50 ms. Prints a table and writes bench/results/home.json.
Usage: python bench/home.py (part of make bench).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
TARGET_P95_MS = 50


def measure(client, n: int) -> dict:
    from django.db import connection

    client.get("/")  # warm up
    # Counted by a wrapper: the test client's request_started resets connection.queries,
    # which makes CaptureQueriesContext count nothing here.
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert client.get("/").status_code == 200
    times = []
    for _ in range(n):
        started = time.perf_counter()
        assert client.get("/").status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "requests": n,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
        "queries": len(executed),
    }


def history(environments, users, *, deployments: int, approvals: int, offset: int = 0) -> None:
    """Deployment rows as the runner leaves them, and open approval requests."""
    from django.utils import timezone

    from apps.environments.models import Approval, Deployment

    now = timezone.now()
    statuses = ["healthy", "healthy", "failed", "done", "reconciling"]
    Deployment.objects.bulk_create(
        Deployment(
            environment=environments[n % len(environments)], kind="deploy", tag=f"main-{offset + n:07x}",
            requested_by=users[n % len(users)], requested_at=now - timedelta(minutes=n),
            status=statuses[n % len(statuses)], idempotency_key=f"bench-home-{offset + n}",
            sha=f"{offset + n:040x}",
        )
        for n in range(deployments)
    )  # fmt: skip
    Approval.objects.bulk_create(
        Approval(environment=environments[-1], tag=f"main-{offset + n:07x}", requested_by=users[0],
                 expires_at=now + timedelta(hours=12))
        for n in range(approvals)
    )  # fmt: skip


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shirube-bench-home-"))
    postgres = PostgresServer(dbname="shirube_bench_home").start()
    try:
        django_on(postgres.url, str(tmp))
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client

        from apps.accounts.models import Membership
        from apps.accounts.services import membership_set, team_ensure, user_ensure
        from apps.clusters import sync
        from apps.clusters.models import Pod
        from apps.clusters.services import cluster_declare
        from apps.demo.services import demo_environments_configure
        from apps.readiness.services import readiness_recompute
        from kubesim.demo import seed_demo
        from kubesim.demo_repo import demo_repo_init
        from kubesim.server import Simulator
        from kubesim.store import Store

        settings.DEBUG = False
        settings.SHIRUBE_GIT_ALLOW_LOCAL = True  # the demo's repository is a local one
        with open(os.devnull, "w") as devnull:
            call_command("load_content", verbosity=0, stdout=devnull, stderr=devnull)
        repo = tmp / "gitops.git"
        demo_repo_init(repo)
        store = Store()
        seed_demo(store)
        with Simulator(store, token="bench") as sim:
            teams = {slug: team_ensure(slug=slug, name=slug.title()) for slug in ("payments", "search")}
            cluster = cluster_declare(name="demo", connection="kubeconfig",
                                      kubeconfig_path=str(sim.write_kubeconfig(tmp / "kubeconfig")),
                                      context="demo")[0]  # fmt: skip
            sync.cluster_sync(cluster=cluster)
        readiness_recompute(cluster=cluster)
        environments = list(demo_environments_configure(cluster=cluster, repo=repo))
        alice = user_ensure(username="alice", password="bench")
        carol = user_ensure(username="carol", password="bench")
        membership_set(user=alice, team=teams["payments"], role=Membership.Role.MEMBER)
        membership_set(user=carol, team=teams["payments"], role=Membership.Role.LEAD)
        history(environments, [alice, carol], deployments=40, approvals=3)

        results = {}
        for label, user in (("member", alice), ("lead", carol)):
            client = Client()
            client.force_login(user)
            results[f"demo, {label}"] = measure(client, REQUESTS)
        # Ten times the history and problem pods: the query count must not move.
        history(environments, [alice, carol], deployments=400, approvals=30, offset=1000)
        template = Pod.objects.filter(cluster=cluster, namespace="payments").exclude(problem="").first()
        if template is not None:
            Pod.objects.bulk_create(
                Pod(cluster=cluster, namespace="payments", name=f"bench-{n}", uid=f"bench-{n}",
                    resource_version="1", problem=template.problem, reason=template.reason, phase="Running")
                for n in range(300)
            )  # fmt: skip
        client = Client()
        client.force_login(carol)
        results["10x history, lead"] = measure(client, REQUESTS)

        print(f"{'case':22} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for case, row in results.items():
            print(f"{case:22} {row['median_ms']:>10} {row['p95_ms']:>8} {row['queries']:>8}")
        worst = max(row["p95_ms"] for row in results.values())
        verdict = "met" if worst < TARGET_P95_MS else "NOT met"
        print(f"target p95 < {TARGET_P95_MS} ms: {verdict} ({worst} ms)")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "home.json").write_text(json.dumps(results, indent=2))
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()

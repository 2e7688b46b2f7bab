"""Benchmark: what a deployment costs, step by step, and the environment page.

A real bare GitOps repository, kubesim over HTTP playing Flux for it (stepped
right after each runner step, so the figures are Shirube's own overhead, not
Flux's intervals), a real PostgreSQL. Measured over DEPLOYS deploys to staging:
the commit step (fetch, edit, commit, push), the whole state machine from
queued to healthy, and the environment page (p50/p95, queries) with that many
deployments in its history. Prints a table and writes bench/results/deploy.json.
Usage: python bench/deploy.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

DEPLOYS = int(os.environ.get("BENCH_DEPLOYS", "20"))
PAGE_VIEWS = int(os.environ.get("BENCH_REQUESTS", "200"))


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shirube-bench-deploy-"))
    postgres = PostgresServer(dbname="shirube_bench_deploy").start()
    try:
        django_on(postgres.url, str(tmp))
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from apps.accounts.models import Membership
        from apps.accounts.services import membership_set, team_ensure, user_ensure
        from apps.clusters import sync
        from apps.clusters.services import cluster_declare
        from apps.demo.services import demo_environments_configure
        from apps.environments import runner, services
        from kubesim.demo import evolve, seed_demo
        from kubesim.demo_repo import demo_repo_init
        from kubesim.gitops import GitOpsPlayer
        from kubesim.server import Simulator
        from kubesim.store import Store

        settings.SHIRUBE_GITOPS_WORKDIR = tmp / "work"
        settings.SHIRUBE_GIT_ALLOW_LOCAL = True  # the demo's repository is a local one
        repo = tmp / "gitops.git"
        demo_repo_init(repo)
        store = Store()
        seed_demo(store)
        player = GitOpsPlayer(store, {"flux-system/gitops": repo}, step_seconds=0.1)
        ticks = iter(range(10**6))
        evolve(store, next(ticks), player)
        with Simulator(store, token="bench") as sim:
            teams = {slug: team_ensure(slug=slug, name=slug.title()) for slug in ("payments", "search")}
            cluster = cluster_declare(name="demo", connection="kubeconfig",
                                      kubeconfig_path=str(sim.write_kubeconfig(tmp / "kubeconfig")),
                                      context="demo")[0]  # fmt: skip
            sync.cluster_sync(cluster=cluster)
            staging, _ = demo_environments_configure(cluster=cluster, repo=repo)
            runner.environment_refresh(environment=staging)
            alice = user_ensure(username="alice", password="bench")
            membership_set(user=alice, team=teams["payments"], role=Membership.Role.MEMBER)

            commit_s, total_s, steps = [], [], []
            for n in range(DEPLOYS):
                staging.refresh_from_db()
                deployment = services.deployment_request(
                    user=alice, environment=staging, kind="deploy", tag=f"main-{n:07x}-{1764150000 + n}",
                    idempotency_key=f"bench-{n}",
                )  # fmt: skip
                started, count = time.perf_counter(), 0
                while True:
                    before = time.perf_counter()
                    delay = runner.deployment_advance(deployment_id=deployment.pk)
                    count += 1
                    deployment.refresh_from_db()
                    if deployment.status == "committed" and len(commit_s) == n:
                        commit_s.append(time.perf_counter() - before)
                    if delay is None:
                        break
                    evolve(store, next(ticks), player)
                assert deployment.status == "healthy", deployment.message
                total_s.append(time.perf_counter() - started)
                steps.append(count)
            sync.cluster_sync(cluster=cluster)

            client = Client()
            client.force_login(alice)
            url = f"/teams/payments/environments/{staging.slug}/"
            page_ms, queries = [], 0
            for _ in range(PAGE_VIEWS):
                with CaptureQueriesContext(connection) as ctx:
                    started = time.perf_counter()
                    assert client.get(url).status_code == 200
                    page_ms.append((time.perf_counter() - started) * 1000)
                queries = len(ctx.captured_queries)

        results = {
            "deploys": DEPLOYS,
            "commit_step_s": {"median": statistics.median(commit_s), "p95": p95(commit_s)},
            "queued_to_healthy_s": {"median": statistics.median(total_s), "p95": p95(total_s)},
            "runner_steps_per_deploy": {"median": statistics.median(steps), "max": max(steps)},
            "environment_page_ms": {
                "p50": statistics.median(page_ms),
                "p95": p95(page_ms),
                "queries": queries,
            },  # fmt: skip
        }
        for key, value in results.items():
            print(f"{key:28} {value}")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "deploy.json").write_text(json.dumps(results, indent=2))
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()

"""Benchmark: sync a 10,000-pod cluster, re-sync it, and serve a 200-pod team page.

The cluster is kubesim (`python -m kubesim --seed scale`: 10,000 pods in 500
namespaces, 2,000 deployments) in its own process, reached over HTTP through
the official client, as a real cluster is. The portal side runs against a real
PostgreSQL started like the tests start it. Prints a table and writes
bench/results/cluster_sync.json. Usage: python bench/cluster_sync.py
(BENCH_DATABASE=sqlite: the embedded default instead, into cluster_sync_sqlite.json).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on, rss_mb  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
SQLITE = os.environ.get("BENCH_DATABASE", "postgresql") == "sqlite"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def api_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_sim/requests", timeout=10) as response:
        return json.load(response)["total"]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shirube-bench-"))
    kubeconfig = tmp / "kubeconfig"
    sim = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--port", "0", "--seed", "scale", "--evolve-every", "0",
         "--kubeconfig", str(kubeconfig)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    postgres = None if SQLITE else PostgresServer(dbname="shirube_bench").start()
    try:
        line = sim.stdout.readline()
        sim_url = line.strip().rsplit(" ", 1)[-1]
        django_on(f"sqlite:///{tmp}/bench.sqlite3" if SQLITE else postgres.url, str(tmp))
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from apps.accounts.models import Membership
        from apps.accounts.services import team_ensure, user_ensure
        from apps.clusters import sync
        from apps.clusters.models import Namespace, Pod, TeamNamespace
        from apps.clusters.services import cluster_declare

        cluster, _ = cluster_declare(
            name="scale", connection="kubeconfig", kubeconfig_path=str(kubeconfig), context="demo"
        )
        results: dict = {}
        base_rss = rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        first = sync.cluster_sync(cluster=cluster)
        results["first_sync"] = {
            "seconds": round(time.perf_counter() - start, 2),
            # This process's CPU alone: on a loaded machine the wall time says more about the load.
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "objects": first.run.seen,
            "pods": Pod.objects.count(),
            "status": first.run.status,
            "rss_before_mb": round(base_rss, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "kinds_ms": {k: v.ms for k, v in first.kinds.items()},
        }
        start = time.perf_counter()
        second = sync.cluster_sync(cluster=cluster)
        results["resync"] = {
            "seconds": round(time.perf_counter() - start, 2),
            "rows_written": second.run.created + second.run.updated + second.run.deleted,
            "status": second.run.status,
        }

        team = team_ensure(slug="bench", name="Bench")
        names = list(Namespace.objects.order_by("name").values_list("name", flat=True)[:10])
        TeamNamespace.objects.bulk_create(
            TeamNamespace(team=team, cluster=cluster, namespace=n) for n in names
        )
        from apps.clusters.ownership import namespaces_assign_teams

        namespaces_assign_teams(cluster=cluster)
        pods = Pod.objects.filter(namespace__in=names).count()
        user = user_ensure(username="bench", password="x")
        Membership.objects.create(user=user, team=team)
        client = Client()
        client.force_login(user)
        requests_before = api_requests(sim_url)

        def measure(label: str, headers: dict, fresh_each_time: bool) -> None:
            from django.core.cache import cache

            client.get("/teams/bench/", **headers)
            if fresh_each_time:
                cache.clear()
            with CaptureQueriesContext(connection) as ctx:
                client.get("/teams/bench/", **headers)
            queries = len(ctx.captured_queries)  # read now: later requests reset the log
            times = []
            for _ in range(REQUESTS):
                if fresh_each_time:
                    cache.clear()  # as on the first view after a sync
                t0 = time.perf_counter()
                response = client.get("/teams/bench/", **headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200
            times.sort()
            results[label] = {
                "pods": pods,
                "requests": REQUESTS,
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
                "queries": queries,
            }

        measure("team_page_after_a_sync", {}, True)
        measure("team_page", {}, False)
        measure("team_page_htmx_poll", {"HTTP_HX_REQUEST": "true"}, False)
        results["kubernetes_api_requests_for_all_page_views"] = api_requests(sim_url) - requests_before
        print(json.dumps(results, indent=2))
        out = ROOT / "bench/results"
        out.mkdir(parents=True, exist_ok=True)
        (out / ("cluster_sync_sqlite.json" if SQLITE else "cluster_sync.json")).write_text(
            json.dumps(results, indent=2)
        )
    finally:
        sim.terminate()
        sim.wait(10)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()

"""Benchmark: p95 server time and queries of the API's main reads, with the demo's cluster and
with the 10,000-pod scale cluster (kubesim), to show that queries per request stay flat.

Syncs each cluster once into a fresh PostgreSQL, gives a team ten namespaces, and reads as a
member with a personal token. Prints a table and writes bench/results/api.json.
Usage: make bench (or python bench/api.py); BENCH_REQUESTS sets the requests per URL (default 100).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402
from bench.learn_pages import measure  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100"))
URLS = [
    "/api/v1/me",
    "/api/v1/teams",
    "/api/v1/teams/{team}/pods?page_size=200",
    "/api/v1/teams/{team}/pods?problems=true",
    "/api/v1/teams/{team}/workloads?page_size=200",
    "/api/v1/teams/{team}/flux-objects",
    "/api/v1/teams/{team}/environments",
]


def kubesim(seed: str, tmp: Path) -> tuple[subprocess.Popen, Path]:
    kubeconfig = tmp / f"kubeconfig-{seed}"
    sim = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--port", "0", "--seed", seed, "--evolve-every", "0",
         "--kubeconfig", str(kubeconfig)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    sim.stdout.readline()  # its address: the kubeconfig is written
    return sim, kubeconfig


def scenario(seed: str, tmp: Path) -> list[dict]:
    from django.test import Client

    from apps.accounts.models import Membership
    from apps.accounts.services import team_ensure, user_ensure
    from apps.api.services import token_create
    from apps.clusters import sync
    from apps.clusters.models import Namespace, Pod, TeamNamespace
    from apps.clusters.ownership import namespaces_assign_teams
    from apps.clusters.services import cluster_declare

    sim, kubeconfig = kubesim(seed, tmp)
    try:
        cluster, _ = cluster_declare(name=seed, connection="kubeconfig", kubeconfig_path=str(kubeconfig),
                                     context="demo")  # fmt: skip
        sync.cluster_sync(cluster=cluster)
    finally:
        sim.terminate()
        sim.wait()
    team = team_ensure(slug=f"bench-{seed}", name=f"Bench {seed}")
    names = list(
        Namespace.objects.filter(cluster=cluster).order_by("name").values_list("name", flat=True)[:10]
    )
    TeamNamespace.objects.bulk_create(TeamNamespace(team=team, cluster=cluster, namespace=n) for n in names)
    namespaces_assign_teams(cluster=cluster)
    user = user_ensure(username=f"bench-{seed}", password="x")
    Membership.objects.get_or_create(user=user, team=team)
    _token, value = token_create(by=user, name="bench", scopes=["read"])
    headers = {"Authorization": f"Bearer {value}"}
    client = Client()
    pods = Pod.objects.filter(cluster=cluster).count()
    rows = []
    for url in URLS:
        row = measure(client, url.format(team=team.slug), REQUESTS, headers=headers)
        rows.append({**row, "cluster": seed, "pods_in_cluster": pods})
    return rows


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shirube-bench-api-"))
    postgres = PostgresServer(dbname="shirube_bench").start()
    try:
        django_on(postgres.url, str(tmp))
        from django.conf import settings

        settings.SHIRUBE_API_READ_LIMIT = 1_000_000  # measure the reads, not the limiter's refusals
        results = scenario("demo", tmp) + scenario("scale", tmp)
        print(f"{'url':50} {'cluster':>7} {'pods':>6} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for row in results:
            print(f"{row['url'][:50]:50} {row['cluster']:>7} {row['pods_in_cluster']:>6} "
                  f"{row['median_ms']:>10} {row['p95_ms']:>8} {row['queries']:>8}")  # fmt: skip
        out = ROOT / "bench/results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "api.json").write_text(json.dumps(results, indent=2))
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()

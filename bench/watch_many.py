"""Benchmark: 20 clusters of 1,000 pods each, watched by one worker process.

One kubesim process of BENCH_PODS pods (default 1,000) stands for every cluster: the portal
declares BENCH_CLUSTERS (default 20) clusters pointing at it, so each has its own rows,
session, lock and watches, exactly as 20 clusters would (the API server's own cost is not
what is measured). The sessions run as threads of this process, as the `watch` queue's
thread pool runs them. Measured: this process's CPU and resident memory at rest
(BENCH_SECONDS, default 60), and during a burst (every pod changed once: 20,000 events),
with the time until every cluster's rows have followed. Writes bench/results/watch_many.json.
Usage: python bench/watch_many.py
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on, kubesim_scale, results_write, rss_mb  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

PODS = int(os.environ.get("BENCH_PODS", "1000"))
CLUSTERS = int(os.environ.get("BENCH_CLUSTERS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-watch-many-"))
    postgres = PostgresServer().start()
    kubeconfig = work / "kubesim.kubeconfig"
    kube = kubesim_scale(PODS, kubeconfig)
    try:
        django_on(postgres.url, str(work / "var"))
        from django.db import connection
        from django.utils import timezone

        from apps.clusters import watch
        from apps.clusters.models import Cluster, Pod
        from apps.clusters.services import cluster_declare

        clusters = [
            cluster_declare(name=f"c{i:02d}", connection="kubeconfig", kubeconfig_path=str(kubeconfig))[0]
            for i in range(CLUSTERS)
        ]
        stop = threading.Event()
        started = timezone.now()
        base_rss = rss_mb()

        def session(cluster):
            try:
                watch.watch_session(cluster=cluster, seconds=3600, stop=stop)
            finally:
                connection.close()

        threads = [threading.Thread(target=session, args=(c,), daemon=True) for c in clusters]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        while Cluster.objects.filter(live_at__gt=started).count() < CLUSTERS:
            time.sleep(0.5)
        first = time.monotonic() - began
        time.sleep(5)  # every watch open
        rest_cpu, rest_began = cpu_seconds(), time.monotonic()
        time.sleep(SECONDS)
        at_rest = {
            "cpu_percent": round(100 * (cpu_seconds() - rest_cpu) / (time.monotonic() - rest_began), 1),
            "rss_mb": round(rss_mb()),
            "threads": threading.active_count(),
        }
        burst_cpu, burst_began = cpu_seconds(), time.monotonic()
        peak = rss_mb()
        kube.send_signal(signal.SIGUSR1)
        while Pod.objects.filter(labels__burst="1").count() < PODS * CLUSTERS:
            peak = max(peak, rss_mb())
            time.sleep(0.5)
        took = time.monotonic() - burst_began
        burst = {
            "events": PODS * CLUSTERS,
            "seconds_until_every_row_followed": round(took, 1),
            "cpu_percent": round(100 * (cpu_seconds() - burst_cpu) / took, 1),
            "peak_rss_mb": round(max(peak, rss_mb())),
        }
        stop.set()
        for thread in threads:
            thread.join(30)
        figures = {
            "clusters": CLUSTERS, "pods_each": PODS, "first_lists_seconds": round(first, 1),
            "rss_before_sessions_mb": round(base_rss), "at_rest": at_rest, "burst": burst,
        }  # fmt: skip
        results_write("watch_many", figures)
    finally:
        kube.terminate()
        kube.wait(10)
        postgres.stop()


if __name__ == "__main__":
    main()

"""Benchmark: what a cluster with nothing changing costs its API server, watched vs polled.

One kubesim of BENCH_PODS pods (default 1,000; 10,000 with BENCH_PODS=10000) in its own
process, reached through a small TCP relay that counts the bytes the server sends. The
portal syncs it first (both modes start from the same rows), then for BENCH_SECONDS
(default 60): "poll" runs a full sync every SHIRUBE_SYNC_INTERVAL (15 s), as before issue
18; "watch" keeps one watch session open. Prints API requests and MB read per minute, and
writes bench/results/watch_steady.json. Usage: python bench/watch_steady.py
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on, kubesim_scale, results_write  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

PODS = int(os.environ.get("BENCH_PODS", "1000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
POLL_INTERVAL = 15.0  # SHIRUBE_SYNC_INTERVAL's default


class Relay:
    """A TCP relay in front of the API server that counts the bytes it sends back."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.down = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self.lock:
                        self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def taken(self) -> int:
        with self.lock:
            down, self.down = self.down, 0
        return down


def sim_requests(port: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_sim/requests", headers={"Authorization": "Bearer bench"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["total"]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-watch-steady-"))
    postgres = PostgresServer().start()
    kubeconfig = work / "kubesim.kubeconfig"
    kube = kubesim_scale(PODS, kubeconfig)
    try:
        django_on(postgres.url, str(work / "var"))
        import yaml
        from django.conf import settings

        from apps.clusters import sync, watch
        from apps.clusters.services import cluster_declare
        from kubesim.kubeconfig import write_kubeconfig

        settings.SHIRUBE_WATCH_SESSION_SECONDS = 3600
        config = yaml.safe_load(kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        sim_port = int(server.rsplit(":", 1)[1].strip("/"))
        relay = Relay(("127.0.0.1", sim_port))
        token = config["users"][0]["user"]["token"]
        relayed = write_kubeconfig(work / "relayed.kubeconfig", f"http://127.0.0.1:{relay.port}", token)
        cluster, _ = cluster_declare(name="steady", connection="kubeconfig", kubeconfig_path=str(relayed))
        first = sync.cluster_sync(cluster=cluster)
        print(f"first sync of {PODS} pods: {first.run.duration_ms} ms, {relay.taken() / 1e6:.1f} MB read")

        results = {}
        # Polling, as before: a full list-and-diff every 15 s.
        before = sim_requests(sim_port)
        relay.taken()
        began = time.monotonic()
        while time.monotonic() - began < SECONDS:
            tick = time.monotonic()
            sync.cluster_sync(cluster=cluster)
            time.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - tick)))
        minutes = (time.monotonic() - began) / 60
        results["poll"] = {
            "requests_per_minute": round((sim_requests(sim_port) - before) / minutes, 1),
            "mb_per_minute": round(relay.taken() / 1e6 / minutes, 2),
        }
        # Watching: one session (it lists nothing: the stored resourceVersions are fresh).
        from apps.clusters.models import Cluster

        Cluster.objects.filter(pk=cluster.pk).update(resource_versions={})
        stop = threading.Event()
        session = threading.Thread(
            target=lambda: watch.watch_session(cluster=Cluster.objects.get(pk=cluster.pk), stop=stop),
            daemon=True,
        )
        session.start()
        while not Cluster.objects.get(pk=cluster.pk).live_at:
            time.sleep(0.2)
        time.sleep(2)  # the first lists and the opening of every watch
        before = sim_requests(sim_port)
        relay.taken()
        began = time.monotonic()
        time.sleep(SECONDS)
        minutes = (time.monotonic() - began) / 60
        results["watch"] = {
            "requests_per_minute": round((sim_requests(sim_port) - before) / minutes, 1),
            "mb_per_minute": round(relay.taken() / 1e6 / minutes, 3),
        }
        stop.set()
        session.join(30)
        print(f"{'mode':8} {'API requests/min':>18} {'MB read/min':>12}   ({PODS} pods, nothing changing)")
        for mode, r in results.items():
            print(f"{mode:8} {r['requests_per_minute']:>18} {r['mb_per_minute']:>12}")
        results_write("watch_steady", {"pods": PODS, "seconds": SECONDS, **results})
    finally:
        kube.terminate()
        kube.wait(10)
        postgres.stop()


if __name__ == "__main__":
    main()

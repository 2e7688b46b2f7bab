"""Benchmark: 200 open live pages on the production web server (gunicorn + uvicorn, ASGI).

Starts PostgreSQL and Redis as the tests do, and `gunicorn portal.asgi:application -k
uvicorn_worker.UvicornWorker` with BENCH_WORKERS (default 1) workers. Opens BENCH_VIEWERS
(default 200) Server-Sent Events streams of a team page as a signed-in user, then: the web
server's CPU and memory with every stream open and nothing changing (BENCH_SECONDS, default
30); the delay from a change being published (as the sync publishes it) to each stream's
`changed` (BENCH_CHANGES changes, 3 s apart), p50/p95/max; and how long an ordinary page
takes meanwhile. Writes bench/results/live_viewers.json. Usage: python bench/live_viewers.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on, results_write  # noqa: E402
from tests.harness.servers import PostgresServer, RedisServer, free_port  # noqa: E402

VIEWERS = int(os.environ.get("BENCH_VIEWERS", "200"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "10"))


def tree_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process and its children (gunicorn's master and workers)."""
    pids = [pid]
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        pids.append(int(child))
    cpu = rss = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / tick
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
    return cpu, rss


async def viewer(port: int, cookie: str, opened: asyncio.Event, arrivals: list, ready: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /teams/bench/live/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={cookie}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    assert b" 200 " in status, status
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"retry:"):
            ready.append(1)
            if len(ready) == VIEWERS:
                opened.set()
        elif line.startswith(b"event: changed"):
            arrivals.append(time.monotonic())


async def measure(port: int, cookie: str, pid: int, redis_url: str, cluster_id: int) -> dict:
    import redis.asyncio as aioredis

    opened, arrivals, ready = asyncio.Event(), [], []
    began = time.monotonic()
    tasks = [asyncio.create_task(viewer(port, cookie, opened, arrivals, ready)) for _ in range(VIEWERS)]
    await asyncio.wait_for(opened.wait(), 120)
    open_seconds = time.monotonic() - began
    await asyncio.sleep(2)
    cpu0, rss = tree_stats(pid)
    t0 = time.monotonic()
    await asyncio.sleep(SECONDS)
    cpu1, rss_rest = tree_stats(pid)
    rest_cpu = 100 * (cpu1 - cpu0) / (time.monotonic() - t0)

    client = aioredis.Redis.from_url(redis_url)
    delays, page_ms = [], []
    loop = asyncio.get_running_loop()
    for _ in range(CHANGES):
        arrivals.clear()
        sent = time.monotonic()
        await client.publish("shirube:live", str(cluster_id))
        deadline = sent + 10
        while len(arrivals) < VIEWERS and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        delays += [a - sent for a in arrivals]
        missing = VIEWERS - len(arrivals)
        assert missing == 0, f"{missing} viewers did not hear of the change"
        p0 = time.monotonic()
        await loop.run_in_executor(
            None, lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
        )
        page_ms.append((time.monotonic() - p0) * 1000)
        await asyncio.sleep(3)
    cpu2, rss_end = tree_stats(pid)
    await client.aclose()
    for task in tasks:
        task.cancel()
    delays.sort()
    return {
        "viewers": VIEWERS, "workers": WORKERS, "seconds_to_open_all": round(open_seconds, 1),
        "at_rest": {"cpu_percent": round(rest_cpu, 1), "rss_mb": round(rss_rest)},
        "rss_before_streams_mb": None,
        "change_to_event_ms": {
            "p50": round(1000 * statistics.median(delays)),
            "p95": round(1000 * delays[int(len(delays) * 0.95)]),
            "max": round(1000 * delays[-1]),
        },
        "healthz_ms_while_streaming_p50": round(statistics.median(page_ms), 1),
        "rss_after_changes_mb": round(rss_end),
    }  # fmt: skip


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-live-viewers-"))
    postgres, redis_server = PostgresServer().start(), RedisServer().start()
    web = None
    try:
        django_on(postgres.url, str(work / "var"))
        from django.test import Client

        from apps.accounts.services import team_ensure
        from apps.clusters.models import Cluster, Namespace
        from tests.factories import UserFactory

        team = team_ensure(slug="bench", name="Bench")
        cluster = Cluster.objects.create(name="bench", kubeconfig_path="/nonexistent")
        Namespace.objects.create(cluster=cluster, name="bench", uid="bench-ns", team=team)
        client = Client()
        client.force_login(UserFactory(username="viewer"))
        cookie = client.cookies["sessionid"].value
        port = free_port()
        env = {
            **os.environ, "REDIS_URL": redis_server.url, "ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }  # fmt: skip
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.asgi:application",
             "--worker-class", "uvicorn_worker.UvicornWorker",
             "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1)
        _, rss_idle = tree_stats(web.pid)
        figures = asyncio.run(measure(port, cookie, web.pid, redis_server.url, cluster.pk))
        figures["rss_before_streams_mb"] = round(rss_idle)
        results_write("live_viewers", figures)
    finally:
        if web is not None:
            web.terminate()
            web.wait(30)
        redis_server.stop()
        postgres.stop()


if __name__ == "__main__":
    main()

"""/metrics: only on its own port, added up across gunicorn's and Celery's processes, bounded labels."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.clusters.models import Cluster

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child_env(**extra) -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _get(port: int, path: str, host: str = "localhost") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _request(port: int, method: str, path: str) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": "localhost"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Allow")
    finally:
        conn.close()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (labels in any order)."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@pytest.mark.django_db(transaction=True)
def test_gunicorn_with_uvicorn_workers_answers_metrics_only_on_the_metrics_port_summed(tmp_path):
    started = time.monotonic()
    Cluster.objects.create(
        name="fresh", connection="kubeconfig", last_success_at=timezone.now() - timedelta(seconds=90)
    )
    Cluster.objects.create(name="never", connection="kubeconfig")
    web, metrics = _free_port(), _free_port()
    # DEBUG: static files from the source folders (the tests have no collectstatic manifest,
    # which the 404 page needs); nothing here depends on it otherwise.
    env = _child_env(
        SHIRUBE_METRICS_PORT=str(metrics), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"), DEBUG="true"
    )
    server = subprocess.Popen(
        # As the chart runs web: ASGI under uvicorn's workers, the metrics port a second bind.
        [sys.executable, "-m", "gunicorn", "portal.asgi:application",
         "--worker-class=uvicorn_worker.UvicornWorker", f"--bind=127.0.0.1:{web}",
         f"--bind=127.0.0.1:{metrics}", "--workers=2", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _get(web, "/healthz")[0] == 200, 60, "gunicorn to answer")
        for _ in range(19):
            assert _get(web, "/healthz")[0] == 200
        # The web port (behind the ingress) has no /metrics, whatever port the client claims.
        assert _get(web, "/metrics")[0] == 404
        assert _get(web, "/metrics", host=f"localhost:{metrics}")[0] == 404
        # Prometheus scrapes by pod IP: a Host that ALLOWED_HOSTS does not list still gets metrics.
        status, body = _get(metrics, "/metrics", host=f"10.1.2.3:{metrics}")
        assert status == 200, body
        assert _request(metrics, "POST", "/metrics") == (405, "GET, HEAD")
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
    # 20 answered /healthz requests, whichever of the two workers took each.
    assert _sample(body, "shirube_http_requests_total", view="healthz", method="GET", status="200") == 20
    # The two 404s on the web port count under one label, not one per path.
    assert _sample(body, "shirube_http_requests_total", view="unmatched", method="GET", status="404") == 2
    fresh = _sample(body, "shirube_cluster_last_good_sync_age_seconds", cluster="fresh")
    assert fresh is not None and 90 <= fresh <= 90 + elapsed + 1  # read from the database at scrape time
    assert _sample(body, "shirube_cluster_last_good_sync_age_seconds", cluster="never") == float("inf")
    assert _sample(body, "shirube_celery_queue_length", queue="sync") == 0
    assert _sample(body, "shirube_deployment_oldest_unfinished_age_seconds") == 0
    assert _sample(body, "shirube_scrape_collector_up", collector="clusters") == 1


# prefork: the chart's `worker`; threads: its `watch` worker (issue 18's sessions).
@pytest.mark.parametrize("pool", ["prefork", "threads"])
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_serves_the_task_outcomes_of_its_pool(tmp_path, pool):
    from apps.clusters.tasks import clusters_sync_all
    from portal.celery import app

    app.control.purge()  # tasks other tests queued (watch sessions re-queue themselves) would go first
    port = _free_port()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", f"--pool={pool}", "--concurrency=2",
         "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=_child_env(SHIRUBE_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m")),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        for _ in range(6):
            clusters_sync_all.delay()

        def six_counted():
            status, body = _get(port, "/metrics")
            name = "apps.clusters.tasks.clusters_sync_all"
            return (
                status == 200
                and _sample(body, "shirube_celery_tasks_total", task=name, outcome="success") == 6
            )

        _wait_for(six_counted, 90, "the worker's /metrics to count six tasks")
    finally:
        worker.terminate()
        output = worker.communicate(timeout=60)[0]
    assert "Traceback" not in output, output


@pytest.mark.django_db
def test_requests_are_counted_by_view_never_by_path(client):
    def count(view: str, status: str) -> float:
        labels = {"view": view, "method": "GET", "status": status}
        return REGISTRY.get_sample_value("shirube_http_requests_total", labels) or 0

    before_ok, before_missing = count("healthz", "200"), count("unmatched", "404")
    client.get("/healthz")
    client.get("/no-such-page-1")
    client.get("/no-such-page-2")
    assert count("healthz", "200") == before_ok + 1
    assert count("unmatched", "404") == before_missing + 2
    assert not any("no-such-page" in str(s.labels) for m in REGISTRY.collect() for s in m.samples), (
        "a client-chosen path became a label"
    )


def test_metrics_is_not_a_django_url(client, settings):
    settings.SHIRUBE_METRICS_PORT = 80  # the test client's SERVER_PORT: still not served by Django
    assert client.get("/metrics").status_code == 404

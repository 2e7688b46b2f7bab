"""The sync through a real Celery worker on a real Redis, and a worker killed mid-sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from apps.clusters import sync, tasks, watch
from apps.clusters.models import Cluster, Pod, SyncRun, Workload

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _child_env(**extra) -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_sync_runs_through_a_real_celery_worker(cluster):
    """The polling mode: beat's round queues a full list of the cluster."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=_child_env(SHIRUBE_SYNC_MODE="poll"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert settings.CELERY_BROKER_URL.startswith("redis://")
        tasks.clusters_sync_all.delay()
        run = _wait_for(
            lambda: SyncRun.objects.filter(cluster=cluster).exclude(status="running").first(),
            60, "the worker to finish a sync",
        )  # fmt: skip
        assert run.status == "ok", run.kinds
        assert run.worker.startswith("celery@")
        assert Pod.objects.filter(cluster=cluster).exists()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_the_task_tolerates_a_deleted_cluster(cluster):
    pk = cluster.pk
    Cluster.objects.filter(pk=pk).delete()
    assert tasks.cluster_sync(pk) == "gone"


def test_the_task_reports_a_held_lock_as_skipped(cluster):
    with sync.cluster_lock(cluster.pk):
        assert tasks.cluster_sync(cluster.pk) == "skipped"


def test_the_sync_cluster_command_exit_codes(cluster, sim):
    command = [sys.executable, "manage.py", "sync_cluster", "demo"]
    ok = subprocess.run(command, cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith("created ")
    assert any(line.startswith("pods ") for line in ok.stdout.splitlines())
    with sync.cluster_lock(cluster.pk):
        held = subprocess.run(
            command, cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=120
        )
    assert held.returncode == 2 and "skipped" in held.stderr
    sim.stop()
    down = subprocess.run(command, cwd=ROOT, env=_child_env(), capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "unreachable" in down.stderr


def test_a_worker_killed_mid_sync_leaves_each_kind_whole_and_the_run_abandoned(cluster, sim):
    sync.cluster_sync(cluster=cluster)
    pods_before = set(Pod.objects.values_list("uid", "resource_version"))
    sim.store.update("deployments.apps", "payments", "checkout-api",
                     lambda d: d["metadata"]["labels"].update(rollout="2"))  # fmt: skip
    for pod in sim.store.list("pods", "payments")[:3]:
        sim.store.update("pods", "payments", pod["metadata"]["name"],
                         lambda p: p["metadata"]["labels"].update(moved="1"))  # fmt: skip
    pods_hang = sim.add_fault(r"/api/v1/pods", delay=60)
    child = subprocess.Popen(
        [sys.executable, "manage.py", "sync_cluster", "demo"], cwd=ROOT,
        env=_child_env(SHIRUBE_SYNC_LOCK_TTL="15"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(
            lambda: Workload.objects.filter(namespace="payments", name="checkout-api", kind="Deployment",
                                            labels__rollout="2").exists(),
            60, "the deployments kind to be written",
        )  # fmt: skip
        _wait_for(lambda: pods_hang.hits, 60, "the worker to be waiting for the pods")  # mid-sync
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    sim.clear_faults()
    killed = SyncRun.objects.get(cluster=cluster, status="running")
    assert set(Pod.objects.values_list("uid", "resource_version")) == pods_before  # wholly old
    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"shirube:sync-lock:{cluster.pk}"
    assert 0 < client.ttl(key) <= 15  # the dead worker's lock is still there...
    with pytest.raises(sync.LockHeld):
        sync.cluster_sync(cluster=cluster)  # ...so nothing overlaps it
    # ...until it expires. Redis keeps the time, not Shirube: bring the expiry forward rather
    # than wait up to 15 s (the setting's minimum) for it.
    client.pexpire(key, 100)
    _wait_for(lambda: not client.exists(key), 20, "the lock to expire")
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "ok"
    killed.refresh_from_db()
    assert killed.status == "abandoned"
    assert Pod.objects.filter(labels__moved="1").count() == 3  # wholly new now


def test_beat_keeps_one_watch_session_per_cluster_on_a_threads_worker(cluster, sim):
    """Watch mode: beat's round queues a session on the `watch` queue, served by a threads pool."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "watch", "--pool=threads",
         "--concurrency=4", "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        cwd=ROOT, env=_child_env(SHIRUBE_WATCH_LOCK_TTL="6"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert tasks.clusters_sync_all.delay()  # queued from here, as beat does
        tasks.clusters_sync_all()
        _wait_for(lambda: Cluster.objects.get(pk=cluster.pk).live_at, 60, "a live session")
        assert tasks.clusters_sync_all() == 0  # its lock is held: nothing more to queue
        name = sim.store.list("pods", "payments")[0]["metadata"]["name"]
        sim.store.update("pods", "payments", name, lambda p: p["metadata"]["labels"].update(live="yes"))
        _wait_for(lambda: Pod.objects.filter(name=name, labels__live="yes").exists(), 30, "the change")
        assert SyncRun.objects.filter(cluster=cluster, watch=True, status="running").count() == 1
    finally:
        worker.terminate()  # a warm shutdown: the session ends at once and queues its successor
        output = worker.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
    run = SyncRun.objects.get(cluster=cluster, watch=True)
    assert run.status == "ok", (run.status, run.kinds)


def test_a_worker_killed_mid_session_is_taken_over_and_misses_nothing(cluster, sim):
    child = subprocess.Popen(
        [sys.executable, "manage.py", "watch_cluster", "demo", "--seconds", "120"], cwd=ROOT,
        env=_child_env(SHIRUBE_WATCH_LOCK_TTL="4"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    names = [p["metadata"]["name"] for p in sim.store.list("pods", "search")]
    try:
        _wait_for(lambda: Cluster.objects.get(pk=cluster.pk).live_at, 60, "the session to watch")
        sim.store.update("pods", "search", names[0], lambda p: p["metadata"]["labels"].update(step="1"))
        _wait_for(
            lambda: Pod.objects.filter(name=names[0], labels__step="1").exists(), 30, "the first change"
        )
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # While nobody watches: changes, a deletion, a new pod.
    for name in names[1:]:
        sim.store.update("pods", "search", name, lambda p: p["metadata"]["labels"].update(step="2"))
    sim.store.delete("pods", "search", names[0])
    killed = SyncRun.objects.get(cluster=cluster, watch=True, status="running")
    with pytest.raises(sync.LockHeld):
        watch.watch_session(cluster=cluster, seconds=5)  # the dead session's lock still stands...
    _wait_for(lambda: not sync.cluster_lock_held(cluster.pk), 20, "the lock to expire")  # ...until it expires
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()
    result = watch.watch_session(cluster=Cluster.objects.get(pk=cluster.pk), seconds=60, stop=stop)
    assert result.listed == []  # resumed from the stored versions: nothing listed again
    assert not Pod.objects.filter(name=names[0]).exists()
    assert Pod.objects.filter(name__in=names[1:], labels__step="2").count() == len(names) - 1
    killed.refresh_from_db()
    assert killed.status == "abandoned"
    full = sync.cluster_sync(cluster=Cluster.objects.get(pk=cluster.pk))  # compare with a full list
    assert (full.run.created, full.run.updated, full.run.deleted) == (0, 0, 0)

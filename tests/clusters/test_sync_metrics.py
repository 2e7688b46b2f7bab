"""The sync's metrics: time and objects per cluster and kind, and failures by kind and reason."""

from __future__ import annotations

from prometheus_client import REGISTRY

from apps.clusters import sync


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_sync_records_time_and_objects_per_kind(cluster, sim):
    runs_before = sample("shirube_sync_duration_seconds_count", cluster="demo", kind="all")
    pods_before = sample("shirube_sync_duration_seconds_count", cluster="demo", kind="pods")
    sync.cluster_sync(cluster=cluster)
    assert sample("shirube_sync_duration_seconds_count", cluster="demo", kind="all") == runs_before + 1
    assert sample("shirube_sync_duration_seconds_count", cluster="demo", kind="pods") == pods_before + 1
    assert sample("shirube_sync_objects", cluster="demo", kind="pods") == sim.store.count("pods")
    assert sample("shirube_sync_objects", cluster="demo", kind="namespaces") == sim.store.count("namespaces")


def test_a_403_on_one_kind_counts_as_that_kinds_error(cluster, sim):
    before = sample("shirube_sync_errors_total", cluster="demo", kind="deployments", reason="http_403")
    pods_errors = sample("shirube_sync_errors_total", cluster="demo", kind="pods", reason="http_403")
    sim.add_fault(r"/apis/apps/v1/deployments", status=403)
    sync.cluster_sync(cluster=cluster)
    assert (
        sample("shirube_sync_errors_total", cluster="demo", kind="deployments", reason="http_403")
        == before + 1
    )
    assert sample("shirube_sync_errors_total", cluster="demo", kind="pods", reason="http_403") == pods_errors


def test_an_unreachable_cluster_counts_as_a_failed_run(cluster, sim):
    before = sample("shirube_sync_errors_total", cluster="demo", kind="run", reason="unreachable")
    sim.stop()
    sync.cluster_sync(cluster=cluster)
    assert sample("shirube_sync_errors_total", cluster="demo", kind="run", reason="unreachable") == before + 1

"""The clusters' scrape-time metrics: how old each cluster's snapshot is (read from the database)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.clusters.models import Cluster


def last_good_sync_ages() -> Iterable[Metric]:
    """Seconds since each enabled cluster's last good sync; +Inf for one never synced.

    Read from the database at scrape time rather than set by the worker: after a worker restart,
    or with several workers, only the database knows the last good sync.
    """
    now = timezone.now()
    family = GaugeMetricFamily(
        "shirube_cluster_last_good_sync_age_seconds",
        "Seconds since the cluster's last sync that reached its API server (+Inf: never)",
        labels=["cluster"],
    )
    for name, last in Cluster.objects.filter(enabled=True).values_list("name", "last_success_at"):
        family.add_metric([name], (now - last).total_seconds() if last else float("inf"))
    return [family]

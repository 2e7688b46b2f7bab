"""The deployments' scrape-time metrics (read from the database)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from apps.environments.models import Deployment


def oldest_unfinished_age() -> Iterable[Metric]:
    """Seconds since the oldest unfinished deployment was requested (0 when none): a stuck one grows."""
    unfinished = Deployment.objects.exclude(status__in=Deployment.FINISHED)
    oldest = unfinished.aggregate(at=Min("requested_at"))["at"]
    family = GaugeMetricFamily(
        "shirube_deployment_oldest_unfinished_age_seconds",
        "Seconds since the oldest deployment that has not finished was requested (0: none)",
    )
    family.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
    return [family]

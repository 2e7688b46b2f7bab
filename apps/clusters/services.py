"""Writes for clusters (the sync itself lives in sync.py)."""

from __future__ import annotations

from django.db import transaction

from apps.clusters.models import Cluster
from apps.core.config_audit import config_change_record, config_snapshot


@transaction.atomic
def cluster_declare(
    *,
    name: str,
    connection: str,
    stage: str = Cluster.Stage.STAGING,
    kubeconfig_path: str = "",
    context: str = "",
    eks_cluster_name: str = "",
    eks_region: str = "",
    by=None,
) -> tuple[Cluster, bool]:
    """Create the cluster, or update it when the name exists (so start-up scripts can repeat it)."""
    values = {
        "connection": connection,
        "stage": stage,
        "kubeconfig_path": kubeconfig_path,
        "context": context,
        "eks_cluster_name": eks_cluster_name,
        "eks_region": eks_region,
    }
    existing = Cluster.objects.filter(name=name).first()
    Cluster(name=name, **values).full_clean(exclude=["name"] if existing else None)
    before = config_snapshot(existing)
    cluster, created = Cluster.objects.update_or_create(name=name, defaults=values)
    # A change of stage changes who may act there: an audit event (apps.core.config_audit).
    config_change_record(by=by, instance=cluster, verb="created" if created else "changed", before=before)
    return cluster, created

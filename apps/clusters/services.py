"""Writes for clusters (the sync itself lives in sync.py)."""

from __future__ import annotations

from apps.clusters.models import Cluster


def cluster_declare(
    *,
    name: str,
    connection: str,
    stage: str = Cluster.Stage.STAGING,
    kubeconfig_path: str = "",
    context: str = "",
    eks_cluster_name: str = "",
    eks_region: str = "",
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
    cluster = Cluster(name=name, **values)
    cluster.full_clean(exclude=["name"] if Cluster.objects.filter(name=name).exists() else None)
    return Cluster.objects.update_or_create(name=name, defaults=values)

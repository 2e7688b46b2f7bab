"""Answers to the lower floors' signals (connected in EnvironmentsConfig.ready)."""

from __future__ import annotations

from django.dispatch import receiver

from apps.clusters.signals import flux_objects_production, namespaces_production
from apps.environments.selectors import flux_objects_serving_production, production_namespaces


@receiver(flux_objects_production)
def flux_objects_in_production_environments(sender, *, objects, **kwargs) -> set[int]:
    """A Flux action on what a production environment runs is a production action, whatever the cluster."""
    return flux_objects_serving_production(objects=objects)


@receiver(namespaces_production)
def namespaces_of_production_environments(sender, *, cluster, **kwargs) -> set[str]:
    """Where a production environment runs is production for readiness, whatever the cluster's stage."""
    return production_namespaces(cluster_id=cluster.pk)

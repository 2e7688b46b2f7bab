"""Answers to the lower floors' signals (connected in EnvironmentsConfig.ready)."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver

from apps.clusters.signals import cluster_snapshot_changed, flux_objects_production, namespaces_production
from apps.environments.models import Environment
from apps.environments.selectors import flux_objects_serving_production, production_namespaces
from apps.lessons.signals import phases_required


@receiver(flux_objects_production)
def flux_objects_in_production_environments(sender, *, objects, **kwargs) -> set[int]:
    """A Flux action on what a production environment runs is a production action, whatever the cluster."""
    return flux_objects_serving_production(objects=objects)


@receiver(phases_required)
def phases_required_by_environments(sender, *, phase_ids, **kwargs) -> set[int]:
    """The phases some environment's learning gate requires: a lesson published into one is a new
    requirement there."""
    through = Environment.required_phases.through.objects
    return set(through.filter(phase_id__in=phase_ids).values_list("phase_id", flat=True))


@receiver(cluster_snapshot_changed)
def healthy_tags_after_sync(sender, *, cluster, **kwargs) -> None:
    """Note the tags that run healthy now (automation moves staging without a deployment), once the
    sync's writes are committed; they are what Roll back goes to."""
    from apps.environments.tasks import healthy_tags_observe

    transaction.on_commit(lambda: healthy_tags_observe.delay(cluster.pk))


@receiver(namespaces_production)
def namespaces_of_production_environments(sender, *, cluster, **kwargs) -> set[str]:
    """Where a production environment runs is production for readiness, whatever the cluster's stage."""
    return production_namespaces(cluster_id=cluster.pk)

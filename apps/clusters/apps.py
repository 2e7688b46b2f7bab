from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "apps.clusters"
    label = "clusters"
    verbose_name = "Clusters"

    def ready(self) -> None:
        from apps.clusters.flux_health import flux_health_after_sync
        from apps.clusters.models import Cluster, TeamNamespace
        from apps.clusters.signals import cluster_snapshot_changed
        from apps.core.config_audit import config_audit_register

        # A team hears when one of its Flux objects turns not Ready or recovers (debounced).
        cluster_snapshot_changed.connect(flux_health_after_sync, dispatch_uid="flux-health")

        # A cluster's stage decides who may act on its Flux objects; its connection, what is shown.
        config_audit_register(
            Cluster,
            fields=[
                "name",
                "stage",
                "enabled",
                "connection",
                "kubeconfig_path",
                "context",
                "eks_cluster_name",
                "eks_region",
                "logs_url_template",
                "datadog_url_template",
            ],  # fmt: skip
            team=lambda c: None,
            target=lambda c: c.name,
        )
        # A namespace assigned to a team: its members act on what runs there.
        config_audit_register(
            TeamNamespace,
            fields=["team", "cluster", "namespace"],
            target=lambda a: f"{a.cluster}/{a.namespace}",
        )

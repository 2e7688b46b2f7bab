"""Clusters for SREs: declared by path (never an uploaded kubeconfig), with sync history."""

from django.contrib import admin, messages
from django.db import transaction

from apps.clusters.models import Cluster, Namespace, SyncRun, TeamNamespace
from apps.core.config_audit import ConfigAuditAdmin


@admin.action(description="Sync now (queue a background sync)")
def sync_now(modeladmin, request, queryset):
    from apps.clusters.tasks import cluster_sync

    for cluster in queryset:
        transaction.on_commit(lambda pk=cluster.pk: cluster_sync.delay(pk))
    messages.success(request, f"Queued a sync of {queryset.count()} cluster(s).")


@admin.register(Cluster)
class ClusterAdmin(ConfigAuditAdmin):
    @admin.display(description="Flux events received (pushed)")
    def flux_events_received(self, obj) -> str:
        from apps.clusters.flux_events import flux_event_counts

        counts = flux_event_counts(obj.pk) if obj.pk else {}
        return "; ".join(f"{outcome}: {n}" for outcome, n in counts.items()) or "none"

    list_display = ["name", "stage", "connection", "enabled", "last_success_at", "last_error"]
    list_filter = ["stage", "connection", "enabled"]
    actions = [sync_now]
    readonly_fields = [
        "last_sync_at", "last_success_at", "last_error", "last_error_detail",
        "kind_errors", "kind_error_details", "skipped_objects", "live_at", "last_full_sync_at",
        "flux_events_received",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["name", "stage", "enabled", "sync_mode"]}),
        (
            "Connection",
            {
                "fields": [
                    "connection",
                    "kubeconfig_path",
                    "context",
                    "eks_cluster_name",
                    "eks_region",
                ],
                "description": "A kubeconfig is referenced by its path on the server (a mounted "
                "secret); it is never uploaded, since its exec plugins run commands.",
            },
        ),
        (
            "Links",
            {
                "fields": ["logs_url_template", "datadog_url_template"],
                "description": "Each is an http:// or https:// address with its host written out; the "
                "placeholders stand bare in braces ({pod}, never {pod:…} or {pod.x}), and each value "
                "is URL-encoded where it stands.",
            },
        ),
        (
            "Last sync",
            {
                "fields": readonly_fields,
                "description": "Errors as every reader sees them, then the details (SREs only), and the "
                "malformed objects the last sync skipped (each sync run lists its own).",
            },
        ),
    ]


@admin.register(TeamNamespace)
class TeamNamespaceAdmin(ConfigAuditAdmin):
    list_display = ["team", "cluster", "namespace"]
    list_filter = ["cluster", "team"]
    search_fields = ["namespace"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        from apps.clusters.ownership import namespaces_assign_teams

        namespaces_assign_teams(cluster=obj.cluster)


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    """Synced namespaces, read-only: who owns each, and conflicts to resolve."""

    list_display = ["name", "cluster", "team", "conflict", "phase"]
    list_filter = ["cluster", "team"]
    search_fields = ["name"]
    readonly_fields = ["cluster", "name", "uid", "team", "conflict", "labels", "phase"]
    exclude = ["annotations", "resource_version", "created"]

    def has_add_permission(self, request):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "cluster",
        "started_at",
        "status",
        "duration_ms",
        "seen",
        "created",
        "updated",
        "deleted",
        "skipped",
    ]
    list_filter = ["cluster", "status"]
    readonly_fields = [f.name for f in SyncRun._meta.fields]

    def has_add_permission(self, request):
        return False

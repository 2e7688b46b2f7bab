"""Environments for SREs: where an application runs, how git sets its tag, and its gates."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from apps.clusters.models import Namespace, TeamNamespace
from apps.core.config_audit import ConfigAuditAdmin
from apps.environments.models import ENVIRONMENT_SETTINGS, Approval, Deployment, Environment


class EnvironmentForm(forms.ModelForm):
    class Meta:
        model = Environment
        fields = ENVIRONMENT_SETTINGS

    def clean_kustomization_path(self) -> str:
        path = self.cleaned_data["kustomization_path"].strip().lstrip("/")
        if ".." in path.split("/") or not path.endswith((".yaml", ".yml")):
            raise forms.ValidationError("A path inside the repository to a kustomization.yaml, without '..'.")
        return path

    def clean(self):
        data = super().clean()
        team, cluster, namespace = data.get("team"), data.get("cluster"), data.get("namespace")
        app, stage = data.get("app"), data.get("stage")
        if team and app and stage:
            clash = Environment.objects.filter(team=team, app=app, stage=stage).exclude(pk=self.instance.pk)
            if clash.exists():
                raise forms.ValidationError(f"{team.slug} already has an environment {app}-{stage}.")
        if team and cluster and namespace:
            synced = Namespace.objects.filter(cluster=cluster, name=namespace).first()
            assigned = TeamNamespace.objects.filter(cluster=cluster, namespace=namespace, team=team).exists()
            if synced is not None and synced.team_id != team.pk and not assigned:
                owner = synced.team.name if synced.team else "no team"
                self.add_error("namespace", f"{namespace} on {cluster} belongs to {owner}, not {team.name}.")
        source = data.get("promotes_from")
        if source is not None and (source.pk == self.instance.pk or (team and source.team_id != team.pk)):
            self.add_error("promotes_from", "Promote from another environment of the same team.")
        return data


@admin.action(description="Read git again (queue a refresh)")
def refresh_now(modeladmin, request, queryset):
    from apps.environments.tasks import environment_refresh

    for environment in queryset:
        transaction.on_commit(lambda pk=environment.pk: environment_refresh.delay(pk))
    messages.success(request, f"Queued a refresh of {queryset.count()} environment(s).")


@admin.register(Environment)
class EnvironmentAdmin(ConfigAuditAdmin):
    form = EnvironmentForm
    list_display = ["__str__", "stage", "cluster", "namespace", "git_tag", "requires_approval", "git_error"]
    list_filter = ["stage", "team", "cluster"]
    search_fields = ["app", "namespace", "image"]
    filter_horizontal = ["required_phases"]
    actions = [refresh_now]
    readonly_fields = ["slug", "git_sha", "git_tag", "git_digest", "git_marker", "git_checked_at",
                       "git_error", "pinned_by", "pinned_at"]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["team", "app", "stage", "slug", "cluster", "namespace"]}),
        (
            "GitOps",
            {
                "fields": [
                    "kustomization",
                    "repo_url",
                    "branch",
                    "kustomization_path",
                    "image",
                    "image_policy",
                    "image_repository",
                ],  # fmt: skip
                "description": "Git credentials are files on the server named by SHIRUBE_GIT_SSH_KEY_FILE, "
                "SHIRUBE_GIT_KNOWN_HOSTS_FILE or SHIRUBE_GIT_TOKEN_FILE; they are never stored here.",
            },
        ),
        (
            "Gates",
            {
                "fields": [
                    "promotes_from",
                    "required_role",
                    "required_phases",
                    "requires_approval",
                    "approval_ttl_hours",
                    "approvals_notify_sres",
                ]
            },
        ),  # fmt: skip
        (
            "Git, as last read",
            {
                "fields": [
                    "git_sha",
                    "git_tag",
                    "git_digest",
                    "git_marker",
                    "git_checked_at",
                    "git_error",
                    "pinned_by",
                    "pinned_at",
                ]
            },
        ),  # fmt: skip
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "environment", "kind", "tag", "status", "requested_by", "sha"]
    list_filter = ["status", "kind"]
    search_fields = ["tag", "sha"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = [
        "requested_at",
        "environment",
        "tag",
        "requested_by",
        "approved_by",
        "expires_at",
        "used_at",
    ]

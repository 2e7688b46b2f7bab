"""Waivers for SREs; findings read-only, for looking things up."""

from django import forms
from django.contrib import admin

from apps.accounts.permissions import is_sre
from apps.core import inputs
from apps.core.config_audit import ConfigAuditAdmin
from apps.readiness.models import WAIVER_REASON_MAX_LENGTH, Finding, Waiver
from apps.readiness.tasks import readiness_recompute_soon


class SREOnly:
    """Waivers change every team's score: SREs only, whatever model permissions say."""

    def has_module_permission(self, request):
        return is_sre(request.user)

    def has_view_permission(self, request, obj=None):
        return is_sre(request.user)

    def has_add_permission(self, request):
        return is_sre(request.user)

    def has_change_permission(self, request, obj=None):
        return is_sre(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_sre(request.user)


class WaiverForm(forms.ModelForm):
    class Meta:
        model = Waiver
        fields = ["rule", "cluster", "namespace", "workload_name", "reason", "expires_at"]

    def clean_reason(self) -> str:
        return inputs.form_text(
            self.cleaned_data["reason"], field="reason", max_length=WAIVER_REASON_MAX_LENGTH, multiline=True
        )

    def clean_namespace(self) -> str:
        return inputs.form_text(self.cleaned_data["namespace"], field="namespace", max_length=63)

    def clean_workload_name(self) -> str:
        return inputs.form_text(self.cleaned_data["workload_name"], field="workload name", max_length=253)


@admin.register(Waiver)
class WaiverAdmin(SREOnly, ConfigAuditAdmin):
    form = WaiverForm
    list_display = ["rule", "cluster", "namespace", "workload_name", "expires_at", "created_by", "reason"]
    list_filter = ["rule", "cluster"]
    search_fields = ["namespace", "workload_name", "reason"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        readiness_recompute_soon(cluster_ids=obj.cluster_ids())  # the findings it exempts change

    def delete_model(self, request, obj):
        cluster_ids = obj.cluster_ids()
        super().delete_model(request, obj)
        readiness_recompute_soon(cluster_ids=cluster_ids)


@admin.register(Finding)
class FindingAdmin(SREOnly, admin.ModelAdmin):
    list_display = ["rule", "namespace", "workload_name", "team", "severity", "first_seen", "exempt_reason"]
    list_filter = ["rule", "severity", "team", "cluster"]
    search_fields = ["namespace", "workload_name", "detail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

"""Waivers for SREs; findings read-only, for looking things up."""

from collections import defaultdict

from django import forms
from django.contrib import admin

from apps.accounts.permissions import is_sre
from apps.clusters.models import Namespace, Workload
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
    """Namespaces and workloads are picked from what the clusters synced, not typed: a typo'd
    name waived nothing while looking like it did. A waiver saved before keeps its values,
    marked when they are no longer in the last sync."""

    namespace = forms.ChoiceField(required=False, help_text="Empty: any namespace.")
    workload_name = forms.ChoiceField(required=False, label="Workload", help_text="Empty: every workload.")

    class Meta:
        model = Waiver
        fields = ["rule", "cluster", "namespace", "workload_name", "reason", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        namespaces = sorted(set(Namespace.objects.values_list("name", flat=True)))
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for cluster, namespace, name in (
            Workload.objects.filter(kind__in=Workload.TOP_KINDS)
            .order_by("cluster__name", "namespace", "name")
            .values_list("cluster__name", "namespace", "name")
        ):
            if (name, name) not in groups[f"{cluster}/{namespace}"]:
                groups[f"{cluster}/{namespace}"].append((name, name))
        ns_choices = [("", "Any namespace"), *((n, n) for n in namespaces)]
        workload_choices = [("", "Every workload"), *groups.items()]
        if self.instance.pk:
            gone = " (not in the last sync)"
            if self.instance.namespace and self.instance.namespace not in namespaces:
                ns_choices.append((self.instance.namespace, self.instance.namespace + gone))
            known = {name for options in groups.values() for name, _ in options}
            if self.instance.workload_name and self.instance.workload_name not in known:
                workload_choices.append((self.instance.workload_name, self.instance.workload_name + gone))
        self.fields["namespace"].choices = ns_choices
        self.fields["workload_name"].choices = workload_choices

    def clean_reason(self) -> str:
        return inputs.form_text(
            self.cleaned_data["reason"], field="reason", max_length=WAIVER_REASON_MAX_LENGTH, multiline=True
        )

    def clean(self) -> dict:
        data = super().clean()
        cluster, namespace, name = data.get("cluster"), data.get("namespace"), data.get("workload_name")
        kept = (namespace, name) == (self.instance.namespace, self.instance.workload_name)
        if (self.instance.pk and kept) or self.errors:
            return data
        namespaces = Namespace.objects.filter(name=namespace)
        workloads = Workload.objects.filter(kind__in=Workload.TOP_KINDS, name=name)
        if cluster:
            namespaces, workloads = namespaces.filter(cluster=cluster), workloads.filter(cluster=cluster)
        if namespace:
            workloads = workloads.filter(namespace=namespace)
        place = "/".join(str(part) for part in (cluster, namespace) if part) or "any cluster"
        if namespace and not namespaces.exists():
            self.add_error(
                "namespace", f"No namespace {namespace} on {cluster or 'any cluster'} in the last sync."
            )
        elif name and not workloads.exists():
            self.add_error("workload_name", f"No workload {name} in {place} in the last sync.")
        return data


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

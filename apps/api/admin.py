from django.contrib import admin, messages

from apps.api.models import ApiToken
from apps.api.services import token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only (values are never here, hashes are useless to show); SREs revoke from the list."""

    list_display = [
        "name",
        "hint",
        "kind",
        "user",
        "team",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["kind", "team"]
    search_fields = ["name", "hint", "user__username"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # made on the settings pages, where the value is shown once

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = sum(token_revoke(token=token, by=request.user) for token in queryset)
        messages.success(request, f"Revoked {revoked} token(s).")

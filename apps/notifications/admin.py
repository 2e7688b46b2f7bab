from django.contrib import admin

from apps.core.config_audit import ConfigAuditAdmin
from apps.notifications.models import Delivery, Notification, SlackLink


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["channel", "address", "user", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """What Shirube told whom (read-only: the outbox is written by the events themselves)."""

    list_display = ["created_at", "kind", "title", "team"]
    list_filter = ["kind", "team"]
    search_fields = ["title"]
    inlines = [DeliveryInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SlackLink)
class SlackLinkAdmin(ConfigAuditAdmin):
    """Who is who in Slack. Deleting a link makes the person link again before acting from chat."""

    list_display = ["user", "slack_team_id", "slack_user_id", "via", "linked_at"]
    search_fields = ["user__username", "slack_user_id"]
    readonly_fields = ["user", "slack_team_id", "slack_user_id", "via", "linked_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from apps.core.config_audit import config_audit_register
        from apps.notifications import channels
        from apps.notifications.models import SlackLink, WebhookEndpoint
        from apps.notifications.webhooks import WebhookChannel

        channels.channels_register_builtin()
        channels.channel_register(WebhookChannel())
        # Where a team's events are sent is configuration: changes are audit events.
        config_audit_register(
            WebhookEndpoint,
            fields=["team", "url", "kinds", "active"],
            team=lambda endpoint: endpoint.team,
            target=lambda endpoint: f"webhook/{endpoint.team.slug}/{endpoint.pk}",
        )
        # Who a Slack user is decides what `/shirube` may do as them: link changes are audit events.
        config_audit_register(
            SlackLink,
            fields=["user", "slack_team_id", "slack_user_id", "via"],
            team=lambda link: None,
            target=lambda link: f"slack/{link.user.get_username()}",
        )

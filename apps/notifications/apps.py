from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from apps.core.config_audit import config_audit_register
        from apps.notifications import channels
        from apps.notifications.models import SlackLink

        channels.channels_register_builtin()
        # Who a Slack user is decides what `/shirube` may do as them: link changes are audit events.
        config_audit_register(
            SlackLink,
            fields=["user", "slack_team_id", "slack_user_id", "via"],
            team=lambda link: None,
            target=lambda link: f"slack/{link.user.get_username()}",
        )

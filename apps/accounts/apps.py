from django.apps import AppConfig
from django.apps import apps as django_apps


def _sre_group_refresh(sender, **kwargs) -> None:
    """Once every app's permissions exist (the last app's post_migrate), derive the SRE group's."""
    migrated = [config for config in django_apps.get_app_configs() if config.models_module is not None]
    if migrated and sender is migrated[-1]:
        from apps.accounts.services import sre_group_refresh

        sre_group_refresh()


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Teams and people"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_sre_group_refresh, dispatch_uid="accounts.sre_group_refresh")

        from django.contrib.auth import get_user_model, user_logged_in
        from django.contrib.auth.models import Group

        from apps.accounts.models import GroupMapping, Membership, Team
        from apps.accounts.services import first_sign_in_on_login
        from apps.core.config_audit import config_audit_register

        # Onboarding is timed from the first sign-in, which Django does not keep.
        user_logged_in.connect(first_sign_in_on_login, dispatch_uid="accounts.first_sign_in")

        # Who is in which team, and who leads it; who is an SRE (a group) or staff.
        config_audit_register(
            Team, fields=["slug", "name", "slack_channel"], team=lambda t: t, target=lambda t: t.slug
        )
        config_audit_register(
            Membership,
            fields=["user", "team", "role", "managed_by_idp"],
            target=lambda m: f"{m.team.slug}/{m.user.get_username()}",
        )
        config_audit_register(
            get_user_model(),
            fields=["is_active", "is_staff", "is_superuser", "groups", "user_permissions"],
            team=lambda u: None,
            target=lambda u: u.get_username(),
        )
        config_audit_register(
            Group, fields=["name", "permissions"], team=lambda g: None, target=lambda g: g.name
        )
        # What the identity provider's groups grant at each sign-in.
        config_audit_register(
            GroupMapping, fields=["idp_group", "role", "team"], target=lambda m: m.idp_group
        )

        from django.contrib.auth.signals import user_logged_in

        from apps.accounts.languages import session_remember_at_sign_in

        # The reader's language goes into the session at sign-in, so that no page pays for it.
        user_logged_in.connect(session_remember_at_sign_in, dispatch_uid="shirube-language-at-sign-in")

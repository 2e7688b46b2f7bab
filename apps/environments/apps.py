from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "apps.environments"
    label = "environments"
    verbose_name = "Environments and deployments"

    def ready(self) -> None:
        from apps.core.config_audit import config_audit_register
        from apps.environments import receivers  # noqa: F401  (connects the signal receivers)
        from apps.environments.models import ENVIRONMENT_SETTINGS, Environment

        # Where it deploys from and to, and its gates: role, phases, approval and its lifetime.
        config_audit_register(Environment, fields=ENVIRONMENT_SETTINGS, target=lambda e: e.audit_target)

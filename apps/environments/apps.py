from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "apps.environments"
    label = "environments"
    verbose_name = "Environments and deployments"

    def ready(self) -> None:
        from apps.core.config_audit import config_audit_register
        from apps.core.metrics import scrape_collector_add
        from apps.environments import receivers  # noqa: F401  (connects the signal receivers)
        from apps.environments.metrics import oldest_unfinished_age
        from apps.environments.models import ENVIRONMENT_SETTINGS, Environment

        # Where it deploys from and to, and its gates: role, phases, approval and its lifetime.
        scrape_collector_add(name="deployments", collect=oldest_unfinished_age)
        config_audit_register(Environment, fields=ENVIRONMENT_SETTINGS, target=lambda e: e.audit_target)

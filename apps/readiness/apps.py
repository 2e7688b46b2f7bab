from django.apps import AppConfig


class ReadinessConfig(AppConfig):
    name = "apps.readiness"
    label = "readiness"
    verbose_name = "Production readiness"

    def ready(self) -> None:
        from apps.core.config_audit import config_audit_register
        from apps.readiness import checks, receivers  # noqa: F401  (registers the check, connects the receivers)
        from apps.readiness.models import Waiver

        config_audit_register(
            Waiver,
            fields=["rule", "cluster", "namespace", "workload_name", "reason", "expires_at"],
            team=lambda w: w.owning_team(),
            target=lambda w: w.audit_target,
        )

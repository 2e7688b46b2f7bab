from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from apps.audit.services import config_change_audit
        from apps.core.config_audit import config_changed

        config_changed.connect(config_change_audit, dispatch_uid="audit.config_change_audit")

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from apps.accounts.signals import sign_in_locked
        from apps.audit.services import config_change_audit, sign_in_locked_audit
        from apps.core.config_audit import config_changed

        config_changed.connect(config_change_audit, dispatch_uid="audit.config_change_audit")
        sign_in_locked.connect(sign_in_locked_audit, dispatch_uid="audit.sign_in_locked_audit")

from __future__ import annotations

from apps.audit.models import AuditEvent


def audit_record(
    *, actor, team, action: str, outcome: str, target: str, parameters: dict | None = None,
    message: str = "", correlation: str = "",
) -> AuditEvent:  # fmt: skip
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=getattr(actor, "username", "") or "system",
        team=team,
        action=action,
        outcome=outcome,
        target=target,
        parameters=parameters or {},
        message=message[:2000],
        correlation=correlation,
    )

from __future__ import annotations

from apps.audit.models import AuditEvent
from apps.core.inputs import shown

# Longest string kept inside an event's parameters: enough for a reason, bounded for a hostile one.
PARAMETER_LIMIT = 500


def _storable(value):
    """Parameters as PostgreSQL's jsonb will take them: strings printable (no NUL) and bounded."""
    if isinstance(value, str):
        return shown(value, PARAMETER_LIMIT)
    if isinstance(value, dict):
        return {shown(str(k), 100): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def audit_record(
    *, actor, team, action: str, outcome: str, target: str, parameters: dict | None = None,
    message: str = "", correlation: str = "", channel: str = "web",
) -> AuditEvent:  # fmt: skip
    """Append one event. Never fails on what it is given: a refusal of hostile input is recorded too.

    Every string is stored printable (control characters escaped: PostgreSQL refuses NUL)
    and cut to its column, with the cut marked.
    """
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=shown(getattr(actor, "username", "") or "system", 150),
        team=team,
        action=shown(action, 50),
        outcome=shown(outcome, 20),
        target=shown(target, 300),
        parameters=_storable(parameters or {}),
        message=shown(message, 2000),
        correlation=shown(correlation, 40),
        channel=shown(channel, 10),
    )


def config_change_audit(*, by, instance, verb: str, changes: dict, summary: str, team, target: str,
                        **kwargs) -> AuditEvent:  # fmt: skip
    """Record a change to who may do what (apps.core.config_audit): `config.<model>`, and how."""
    return audit_record(
        actor=by, team=team, action=f"config.{instance._meta.model_name}", outcome=verb, target=target,
        parameters={"changes": changes}, message=summary,
    )  # fmt: skip


def sign_in_locked_audit(*, username: str, address: str, by: str, until, **kwargs) -> AuditEvent:
    """Record that password sign-in was locked for a user name (as typed) or an address."""
    target = username if by == "user" else address
    return audit_record(
        actor=None, team=None, action="sign_in.locked", outcome="locked", target=target,
        parameters={"username": username, "address": address, "by": by, "until": until.isoformat()},
        message=f"Too many failed password sign-ins for this {'user name' if by == 'user' else 'address'}; "
        f"locked until {until:%Y-%m-%d %H:%M:%S %Z}.",
    )  # fmt: skip

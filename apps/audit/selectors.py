"""Reads of the audit log for the pages that show it."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import Team
from apps.audit.models import AuditEvent


def audit_events(*, team: Team, limit: int, target_suffix: str = "") -> QuerySet[AuditEvent]:
    """The team's newest events, optionally only those whose target ends with `target_suffix`."""
    events = AuditEvent.objects.filter(team=team)
    if target_suffix:
        events = events.filter(target__endswith=target_suffix)
    return events[:limit]

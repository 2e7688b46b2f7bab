"""Reads of the audit log for the pages that show it."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from apps.accounts.models import Team
from apps.audit.models import AuditEvent


def audit_events(
    *, team: Team, limit: int, target_suffix: str = "", clusters: Iterable[str] = ()
) -> QuerySet[AuditEvent]:
    """The team's newest events, optionally only those whose target ends with `target_suffix`.

    With `clusters` (names), also the changes to those clusters' configuration that concern
    no one team (a cluster's stage, a cluster-wide waiver): they change what the team may do.
    """
    mine = Q(team=team)
    shared = Q()
    for name in clusters:
        shared |= Q(target=name) | Q(target__startswith=f"{name}/")
    if shared:
        mine |= Q(team__isnull=True, action__startswith="config.") & shared
    events = AuditEvent.objects.filter(mine)
    if target_suffix:
        events = events.filter(target__endswith=target_suffix)
    return events[:limit]

"""Which team owns which namespace: the team label, plus explicit assignments."""

from __future__ import annotations

from django.conf import settings

from apps.accounts.models import Team
from apps.clusters.models import Cluster, Namespace, TeamNamespace


def namespaces_assign_teams(*, cluster: Cluster) -> int:
    """Resolve each namespace's team; two teams claiming one is a conflict, owned by nobody."""
    label = settings.SHIRUBE_TEAM_LABEL
    teams = {team.slug: team.pk for team in Team.objects.all()}
    explicit = dict(TeamNamespace.objects.filter(cluster=cluster).values_list("namespace", "team_id"))
    slugs = {pk: slug for slug, pk in teams.items()}
    changed = []
    for ns in Namespace.objects.filter(cluster=cluster).only("pk", "name", "labels", "team_id", "conflict"):
        claims = set()
        labelled = (ns.labels or {}).get(label)
        if labelled in teams:
            claims.add(teams[labelled])
        if ns.name in explicit:
            claims.add(explicit[ns.name])
        team_id = next(iter(claims)) if len(claims) == 1 else None
        conflict = sorted(slugs[c] for c in claims) if len(claims) > 1 else []
        if ns.team_id != team_id or ns.conflict != conflict:
            ns.team_id, ns.conflict = team_id, conflict
            changed.append(ns)
    if changed:
        Namespace.objects.bulk_update(changed, ["team", "conflict"])
    return len(changed)

"""Reads for the API: what a token may see, as querysets for cursor pagination (a fixed number of queries)."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q, QuerySet

from apps.accounts.models import Team
from apps.accounts.permissions import can_read_team, reads_only_own_teams
from apps.api.models import ApiToken
from apps.audit.models import AuditEvent
from apps.clusters.models import FluxObject, Namespace, Pod, Workload


def token_may_read_team(token: ApiToken, team: Team) -> bool:
    """A service token reads its own team only; a personal token what its owner reads on the pages."""
    if token.kind == ApiToken.Kind.SERVICE:
        return token.team_id == team.pk
    return can_read_team(token.user, team)


def teams_readable(token: ApiToken) -> QuerySet[Team]:
    teams = Team.objects.all()
    if token.kind == ApiToken.Kind.SERVICE:
        return teams.filter(pk=token.team_id)
    if reads_only_own_teams(token.user):  # as can_read_team says, in one query for every team
        return teams.filter(memberships__user=token.user)
    return teams


def _namespaces_q(team: Team, *, with_target: bool = False) -> Q:
    pairs = list(Namespace.objects.filter(team=team).values_list("cluster_id", "name"))
    if not pairs:
        return Q(pk__in=[])
    parts = [Q(cluster_id=c, namespace=n) for c, n in pairs]
    if with_target:
        parts += [Q(cluster_id=c, target_namespace=n) for c, n in pairs]
    return reduce(or_, parts)


def team_namespaces(*, team: Team) -> QuerySet[Namespace]:
    return Namespace.objects.filter(team=team).select_related("cluster")


def team_workloads(*, team: Team, namespace: str = "") -> QuerySet[Workload]:
    rows = Workload.objects.filter(_namespaces_q(team)).select_related("cluster")
    return rows.filter(namespace=namespace) if namespace else rows


def team_pods(
    *, team: Team, namespace: str = "", workload: str = "", problems_only: bool = False
) -> QuerySet[Pod]:
    rows = Pod.objects.filter(_namespaces_q(team)).select_related("cluster")
    if namespace:
        rows = rows.filter(namespace=namespace)
    if workload:
        rows = rows.filter(workload_name=workload)
    if problems_only:
        rows = rows.exclude(problem="")
    return rows


def team_flux_objects(*, team: Team) -> QuerySet[FluxObject]:
    return FluxObject.objects.filter(_namespaces_q(team, with_target=True)).select_related("cluster")


def deployment_steps(*, deployment_id: int) -> list[AuditEvent]:
    """The deployment's audit events, oldest first: requested, each step, the outcome."""
    return list(AuditEvent.objects.filter(correlation=f"deployment-{deployment_id}").order_by("at", "pk"))

"""What one person needs today, read in a fixed number of queries whatever the number of objects.

A floor-5 app: it joins accounts, lessons, clusters, readiness and environments, each read
through its own models and selectors, and writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import is_sre, team_roles_remember
from apps.clusters.models import FluxObject, Namespace, Pod
from apps.clusters.problems import PROBLEMS, Problem
from apps.environments.gates import approve_gate
from apps.environments.models import Approval, Deployment
from apps.lessons.models import Lesson, Progress
from apps.lessons.selectors import LessonLink, lesson_for_reasons
from apps.readiness.models import Finding
from apps.readiness.rules import RULES, SEVERITIES, Rule
from apps.readiness.selectors import rule_lessons

RECENT_DEPLOYMENTS = 5
FINDINGS_SHOWN = 5


@dataclass
class TeamProblems:
    team: Team
    pods: int = 0  # pods with a problem
    flux_failing: int = 0
    worst: Problem | None = None
    worst_pod: Pod | None = None
    lesson: LessonLink | None = None  # at the section that explains the problem

    @property
    def count(self) -> int:
        return self.pods + self.flux_failing


@dataclass
class FindingToLearn:
    finding: Finding
    rule: Rule
    lesson: LessonLink  # at the section that explains the rule


@dataclass
class HomePage:
    teams: list[TeamProblems]
    approvals: list[Approval]
    active: list[Deployment]
    recent: list[Deployment]
    next_lesson: Lesson | None
    findings: list[FindingToLearn]
    findings_total: int = 0
    lessons_done: int = 0
    lessons_total: int = 0
    notes: list[str] = field(default_factory=list)


def _team_problems(teams: list[Team]) -> list[TeamProblems]:
    """Problem pods and failing Flux objects per team, and the worst pod (four queries)."""
    rows = {t.pk: TeamProblems(t) for t in teams}
    owner: dict[tuple[int, str], int] = {
        (cluster_id, name): team_id
        for cluster_id, name, team_id in Namespace.objects.filter(team__in=teams).values_list(
            "cluster_id", "name", "team_id"
        )
    }
    if not owner:
        return list(rows.values())
    by_cluster: dict[int, list[str]] = defaultdict(list)
    for cluster_id, name in owner:
        by_cluster[cluster_id].append(name)
    in_pods = Q(pk__in=[])
    in_flux = Q(pk__in=[])
    for cluster_id, names in by_cluster.items():
        in_pods |= Q(cluster_id=cluster_id, namespace__in=names)
        in_flux |= Q(cluster_id=cluster_id) & (Q(namespace__in=names) | Q(target_namespace__in=names))
    worst: dict[int, str] = {}
    counts = Pod.objects.filter(in_pods).exclude(problem="").values_list("cluster_id", "namespace", "problem")
    for cluster_id, namespace, problem, n in counts.annotate(n=Count("pk")).order_by():
        team_id = owner[(cluster_id, namespace)]
        rows[team_id].pods += n
        known = worst.get(team_id)
        if problem in PROBLEMS and (known is None or PROBLEMS[problem].severity < PROBLEMS[known].severity):
            worst[team_id] = problem
    failing = FluxObject.objects.filter(in_flux, ready_status="False").values_list(
        "cluster_id", "namespace", "target_namespace"
    )
    for cluster_id, namespace, target in failing:
        team_id = owner.get((cluster_id, namespace)) or owner.get((cluster_id, target))
        if team_id in rows:
            rows[team_id].flux_failing += 1
    if worst:
        lessons = lesson_for_reasons()
        for team_id, problem in worst.items():
            # The newest pod with the team's worst problem: one query per team of this person
            # (a handful), never per pod.
            scope = Q(pk__in=[])
            for (cluster_id, namespace), owner_id in owner.items():
                if owner_id == team_id:
                    scope |= Q(cluster_id=cluster_id, namespace=namespace)
            row = rows[team_id]
            row.worst = PROBLEMS[problem]
            row.worst_pod = (
                Pod.objects.filter(scope, problem=problem)
                .order_by("-created", "name")
                .only("cluster__name", "namespace", "name", "reason", "problem", "last_termination_reason")
                .select_related("cluster")
                .first()
            )
            pod = row.worst_pod
            for reason in (pod.reason, pod.last_termination_reason, *row.worst.reasons) if pod else ():
                if reason and reason in lessons:
                    row.lesson = lessons[reason]
                    break
    return sorted(rows.values(), key=lambda r: (-r.count, r.team.name))


def _approvals_waiting(user: AbstractBaseUser, led: set[int]) -> list[Approval]:
    """Open approval requests this person may answer: leads of the team, and SREs."""
    if not led and not is_sre(user):
        return []
    pending = Approval.objects.filter(
        approved_at__isnull=True,
        declined_at__isnull=True,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exclude(requested_by=user)
    if not is_sre(user):
        pending = pending.filter(environment__team_id__in=led)
    pending = pending.select_related("environment__team", "requested_by").order_by("requested_at")[:20]
    return [a for a in pending if approve_gate(user, a).ok]


def _next_lesson(user: AbstractBaseUser, done: set[int]) -> tuple[Lesson | None, int]:
    lessons = list(
        Lesson.objects.visible()
        .select_related("phase")
        .only("slug", "title", "summary", "minutes", "phase__slug", "phase__title", "phase__order", "order")
        .order_by("phase__order", "order")
    )
    return next((lesson for lesson in lessons if lesson.pk not in done), None), len(lessons)


def _findings_to_learn(teams: list[Team], done: set[int]) -> tuple[list[FindingToLearn], int]:
    """Findings on the person's teams' workloads whose rule a lesson they have not done teaches."""
    if not teams:
        return [], 0
    lessons = {rule: lesson for rule, lesson in rule_lessons().items() if lesson.lesson.pk not in done}
    if not lessons:
        return [], 0
    findings = Finding.objects.active().filter(team__in=teams, rule__in=list(lessons))
    total = findings.count()
    shown = sorted(
        findings.select_related("cluster").order_by("-first_seen")[:50],
        key=lambda f: (SEVERITIES.get(f.severity, 9), f.namespace, f.workload_name),
    )[:FINDINGS_SHOWN]
    return [FindingToLearn(f, RULES[f.rule], lessons[f.rule]) for f in shown if f.rule in RULES], total


def home_page(*, user: AbstractBaseUser) -> HomePage:
    memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))
    teams = [m.team for m in memberships]
    led = {m.team_id for m in memberships if m.role == Membership.Role.LEAD}
    team_roles_remember(user, memberships)  # the approval gate asks for them again
    done = set(
        Progress.objects.filter(user=user, status=Progress.Status.COMPLETED).values_list(
            "lesson_id", flat=True
        )
    )
    mine = list(
        Deployment.objects.filter(requested_by=user)
        .select_related("environment__team")
        .order_by("-requested_at", "-id")[: RECENT_DEPLOYMENTS + 5]
    )
    next_lesson, total = _next_lesson(user, done)
    findings, findings_total = _findings_to_learn(teams, done)
    return HomePage(
        teams=_team_problems(teams),
        approvals=_approvals_waiting(user, led),
        active=[d for d in mine if not d.done],
        recent=[d for d in mine if d.done][:RECENT_DEPLOYMENTS],
        next_lesson=next_lesson,
        findings=findings,
        findings_total=findings_total,
        lessons_done=len(done),
        lessons_total=total,
    )

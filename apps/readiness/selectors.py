"""Reads for the readiness pages, the workload and pod pages, and the lesson box."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from apps.accounts.models import Team
from apps.lessons.models import Lesson
from apps.lessons.selectors import lesson_for_rules
from apps.readiness.models import Assessment, Finding, TeamScore
from apps.readiness.rules import RULES, SEVERITIES, Rule
from apps.readiness.services import score_of, team_scores

TREND_DAYS = 30
PREFERRED_PHASE = "production-readiness"


def rule_lessons() -> dict[str, Lesson]:
    """Rule id -> the published lesson that teaches its fix, production-readiness lessons first."""
    return lesson_for_rules(
        rules={rule_id: rule.lesson for rule_id, rule in RULES.items()}, preferred_phase=PREFERRED_PHASE
    )


@dataclass
class FindingView:
    finding: Finding
    rule: Rule
    lesson: Lesson | None
    exempt: bool


def _views(findings: list[Finding], lessons: dict[str, Lesson]) -> list[FindingView]:
    now = timezone.now()
    views = [
        FindingView(f, RULES[f.rule], lessons.get(f.rule), f.is_exempt(now))
        for f in findings
        if f.rule in RULES
    ]
    views.sort(key=lambda v: (v.exempt, SEVERITIES.get(v.rule.severity, 9), v.rule.id))
    return views


def workload_findings(*, cluster_id: int, namespace: str, kind: str, name: str) -> list[FindingView]:
    """The readiness findings of one workload, failing before exempted, worst first."""
    findings = list(
        Finding.objects.filter(
            cluster_id=cluster_id, namespace=namespace, workload_kind=kind, workload_name=name
        )
    )
    return _views(findings, rule_lessons() if findings else {})


@dataclass
class Trend:
    points: list[tuple[date, int]]
    width: int = 120
    height: int = 28

    @property
    def polyline(self) -> str:
        """SVG points: x spread over the 30 days, y from score 0 (bottom) to 100 (top)."""
        if not self.points:
            return ""
        start = self.points[-1][0] - timedelta(days=TREND_DAYS - 1)
        step = self.width / (TREND_DAYS - 1)
        return " ".join(
            f"{(day - start).days * step:.1f},{(100 - score) * self.height / 100:.1f}"
            for day, score in self.points
        )

    @property
    def first(self) -> int | None:
        return self.points[0][1] if self.points else None

    @property
    def change(self) -> int:
        return self.points[-1][1] - self.points[0][1] if len(self.points) > 1 else 0


def _trends(team_ids: list[int], today_scores: dict[int, int]) -> dict[int, Trend]:
    today = timezone.localdate()
    since = today - timedelta(days=TREND_DAYS - 1)
    points: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for team_id, day, score in TeamScore.objects.filter(
        team_id__in=team_ids, day__gte=since, day__lt=today
    ).values_list("team_id", "day", "score"):
        points[team_id].append((day, score))
    for team_id, score in today_scores.items():
        points[team_id].append((today, score))  # today: the live score, not the last snapshot
    return {team_id: Trend(points[team_id]) for team_id in team_ids}


@dataclass
class Cell:
    rule: Rule
    status: str  # pass, fail, exempt, n/a
    finding: Finding | None = None


@dataclass
class Row:
    assessment: Assessment
    cells: list[Cell]
    failing: int


@dataclass
class RuleSummary:
    rule: Rule
    lesson: Lesson | None
    failing: int
    applicable: int


@dataclass
class Scorecard:
    team: Team
    score: int | None
    checks: int
    failing: int
    rows: list[Row]
    rules: list[RuleSummary]
    findings: list[FindingView]
    trend: Trend


def team_scorecard(*, team: Team) -> Scorecard:
    """Workloads x rules for one team, with its score and 30-day trend, in a fixed number of queries."""
    now = timezone.now()
    assessments = list(
        Assessment.objects.filter(team=team)
        .select_related("cluster")
        .order_by("cluster__name", "namespace", "kind", "name")
    )
    findings = list(Finding.objects.filter(team=team).select_related("cluster"))
    lessons = rule_lessons()
    by_workload: dict[tuple[int, str], dict[str, Finding]] = defaultdict(dict)
    for f in findings:
        by_workload[(f.cluster_id, f.workload_uid)][f.rule] = f
    rows, checks, failing = [], 0, 0
    per_rule_fail: dict[str, int] = defaultdict(int)
    per_rule_applicable: dict[str, int] = defaultdict(int)
    for a in assessments:
        cells, row_failing = [], 0
        mine = by_workload.get((a.cluster_id, a.uid), {})
        for rule in RULES.values():
            if rule.id not in a.applicable:
                cells.append(Cell(rule, "n/a"))
                continue
            checks += 1
            per_rule_applicable[rule.id] += 1
            finding = mine.get(rule.id)
            if finding is None:
                cells.append(Cell(rule, "pass"))
            elif finding.is_exempt(now):
                cells.append(Cell(rule, "exempt", finding))
            else:
                cells.append(Cell(rule, "fail", finding))
                row_failing += 1
                per_rule_fail[rule.id] += 1
        failing += row_failing
        rows.append(Row(a, cells, row_failing))
    rows.sort(key=lambda r: (-r.failing, r.assessment.namespace, r.assessment.name))
    score = score_of(checks, failing) if assessments else None
    summaries = [
        RuleSummary(rule, lessons.get(rule.id), per_rule_fail[rule.id], per_rule_applicable[rule.id])
        for rule in RULES.values()
    ]
    trend = _trends([team.pk], {team.pk: score} if score is not None else {})[team.pk]
    return Scorecard(team, score, checks, failing, rows, summaries, _views(findings, lessons), trend)


@dataclass
class TeamLine:
    team: Team
    score: int | None
    workloads: int
    failing: int
    trend: Trend
    per_rule: list[tuple[Rule, int]] = field(default_factory=list)


def teams_overview() -> list[TeamLine]:
    """Every team side by side for SREs: score, trend, failing workloads per rule; worst first."""
    now = timezone.now()
    teams = list(Team.objects.order_by("name"))
    scores = team_scores(now=now)
    per_rule: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for team_id, rule in Finding.objects.active(now).exclude(team=None).values_list("team_id", "rule"):
        per_rule[team_id][rule] += 1
    trends = _trends([t.pk for t in teams], {tid: v["score"] for tid, v in scores.items()})
    lines = []
    for team in teams:
        values = scores.get(team.pk)
        lines.append(
            TeamLine(
                team,
                values["score"] if values else None,
                values["workloads"] if values else 0,
                values["failing"] if values else 0,
                trends[team.pk],
                [(rule, per_rule[team.pk].get(rule.id, 0)) for rule in RULES.values()],
            )
        )
    lines.sort(
        key=lambda line: (line.score is None, line.score if line.score is not None else 0, line.team.name)
    )
    return lines


@dataclass
class LessonBox:
    rules: list[str]
    findings: list[Finding]

    @property
    def workloads(self) -> list[Finding]:
        """One finding per workload (a workload failing two of the lesson's rules counts once)."""
        seen, unique = set(), []
        for f in self.findings:
            key = (f.cluster_id, f.workload_uid)
            if key not in seen:
                seen.add(key)
                unique.append(f)
        return unique


def lesson_box(*, lesson: Lesson, user: AbstractBaseUser) -> LessonBox | None:
    """The user's teams' workloads that fail a rule this lesson teaches (one query), or None."""
    rules = [r for r in lesson.related_rules or [] if r in RULES]
    if not rules or not user.is_authenticated:
        return None
    findings = list(
        Finding.objects.active()
        .filter(rule__in=rules, team__memberships__user=user)
        .select_related("cluster", "team")
        .order_by("team__name", "namespace", "workload_name")
        .distinct()
    )
    return LessonBox(rules, findings)

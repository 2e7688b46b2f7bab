"""Time to onboard and what each lesson does, from what Shirube recorded (never self-reported).

A floor-5 app: it joins accounts (first sign-in, teams), lessons (progress, quizzes, stuck flags)
and environments (deployments). Only counts, medians and spreads leave here: leads see their
teams' numbers, never one person's quiz failures (docs/security.md).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Min

from apps.accounts.models import FirstSignIn, Membership, Team
from apps.environments.models import Deployment, Environment
from apps.lessons.models import Choice, Lesson, Phase, Progress, Question, QuizAttempt, StuckFlag

CHART_WIDTH = 300  # the SVG's drawing width, in its own units
MOST_MISSED = 3


@dataclass
class Spread:
    """Days from the first sign-in to one milestone, over the people who reached it."""

    label: str
    reached: int
    of: int
    median: float | None = None
    low: float | None = None  # 25th percentile
    high: float | None = None  # 75th percentile
    # Where the chart draws it (set by _scale): bar to the median, a line from low to high.
    bar: float = 0
    line_from: float = 0
    line_to: float = 0


@dataclass
class Group:
    name: str
    people: int
    spreads: list[Spread] = field(default_factory=list)


@dataclass
class LessonRow:
    lesson: Lesson
    completions: int
    first_tries: int
    first_try_passes: int
    stuck_people: int
    most_missed: list[tuple[str, int]] = field(default_factory=list)  # (question, attempts that missed it)

    @property
    def first_try_rate(self) -> int | None:
        return round(100 * self.first_try_passes / self.first_tries) if self.first_tries else None


@dataclass
class InsightsPage:
    teams: list[Group]
    cohorts: list[Group]
    lessons: list[LessonRow]


def _spread(label: str, days: list[float], of: int) -> Spread:
    spread = Spread(label, len(days), of)
    if days:
        days = sorted(days)
        spread.median = round(statistics.median(days), 1)
        if len(days) >= 2:
            q1, _, q3 = statistics.quantiles(days, n=4, method="inclusive")
            spread.low, spread.high = round(q1, 1), round(q3, 1)
        else:
            spread.low = spread.high = spread.median
    return spread


def _scale(groups: list[Group]) -> None:
    """One scale for every chart on the page, so bars compare across teams and cohorts."""
    top = max((s.high or 0 for g in groups for s in g.spreads), default=0) or 1
    for group in groups:
        for s in group.spreads:
            if s.median is not None:
                s.bar = round(CHART_WIDTH * s.median / top, 1)
                s.line_from = round(CHART_WIDTH * (s.low or 0) / top, 1)
                s.line_to = round(CHART_WIDTH * (s.high or 0) / top, 1)


def _milestones(user_ids: list[int]) -> tuple[dict[int, datetime], dict[str, dict[int, datetime]]]:
    """Each person's first sign-in and when they first reached each milestone (a fixed number of queries)."""
    first = dict(FirstSignIn.objects.filter(user_id__in=user_ids).values_list("user_id", "at"))
    completed = Progress.objects.filter(
        user_id__in=user_ids, status=Progress.Status.COMPLETED, completed_at__isnull=False
    )
    milestones: dict[str, dict[int, datetime]] = {}
    milestones["First lesson completed"] = dict(
        completed.values("user_id").annotate(at=Min("completed_at")).values_list("user_id", "at")
    )
    # A phase is completed when its last published lesson is.
    phase_lessons: dict[int, set[int]] = defaultdict(set)
    for lesson_id, phase_id in Lesson.objects.visible().values_list("id", "phase_id"):
        phase_lessons[phase_id].add(lesson_id)
    done: dict[tuple[int, int], dict[int, datetime]] = defaultdict(dict)
    for user_id, lesson_id, phase_id, at in completed.values_list(
        "user_id", "lesson_id", "lesson__phase_id", "completed_at"
    ):
        done[(user_id, phase_id)][lesson_id] = at
    for phase in Phase.objects.filter(id__in=phase_lessons).order_by("order"):
        reached = {}
        for user_id in user_ids:
            times = done.get((user_id, phase.pk), {})
            if phase_lessons[phase.pk] and phase_lessons[phase.pk] <= set(times):
                reached[user_id] = max(times[lesson_id] for lesson_id in phase_lessons[phase.pk])
        milestones[f"Phase “{phase.title}” completed"] = reached
    healthy = Deployment.objects.filter(
        requested_by_id__in=user_ids, status=Deployment.Status.HEALTHY, finished_at__isnull=False
    ).values("requested_by_id")
    milestones["First healthy staging deploy"] = dict(
        healthy.filter(environment__stage=Environment.Stage.STAGING)
        .annotate(at=Min("finished_at"))
        .values_list("requested_by_id", "at")
    )
    milestones["First production promotion"] = dict(
        healthy.filter(environment__stage=Environment.Stage.PRODUCTION, kind=Deployment.Kind.PROMOTE)
        .annotate(at=Min("finished_at"))
        .values_list("requested_by_id", "at")
    )
    return first, milestones


def _group(name: str, people: list[int], first, milestones) -> Group:
    started = [p for p in people if p in first]
    group = Group(name, len(started))
    for label, reached in milestones.items():
        days = [max(0.0, (reached[p] - first[p]).total_seconds() / 86400) for p in started if p in reached]
        group.spreads.append(_spread(label, days, len(started)))
    return group


def _lessons(user_ids: list[int]) -> list[LessonRow]:
    completions = dict(
        Progress.objects.filter(user_id__in=user_ids, status=Progress.Status.COMPLETED)
        .values("lesson_id")
        .annotate(n=Count("pk"))
        .values_list("lesson_id", "n")
    )
    # Each person's first attempt per lesson: the earliest row of each (user, lesson).
    firsts: dict[tuple[int, int], bool] = {}
    answered: list[dict] = []
    for user_id, lesson_id, passed, answers in (
        QuizAttempt.objects.filter(user_id__in=user_ids)
        .order_by("created_at", "id")
        .values_list("user_id", "lesson_id", "passed", "answers")
    ):
        firsts.setdefault((user_id, lesson_id), passed)
        answered.append(answers or {})
    missed = _questions_missed(answered)
    tries: dict[int, list[bool]] = defaultdict(list)
    for (_, lesson_id), passed in firsts.items():
        tries[lesson_id].append(passed)
    # Stuck flags count people, not clicks.
    stuck = dict(
        StuckFlag.objects.filter(user_id__in=user_ids)
        .values("lesson_id")
        .annotate(n=Count("user_id", distinct=True))
        .values_list("lesson_id", "n")
    )
    lessons = Lesson.objects.visible().select_related("phase").order_by("phase__order", "order")
    return [
        LessonRow(
            lesson,
            completions.get(lesson.pk, 0),
            len(tries[lesson.pk]),
            sum(tries[lesson.pk]),
            stuck.get(lesson.pk, 0),
            missed.get(lesson.pk, [])[:MOST_MISSED],
        )
        for lesson in lessons
    ]


def _questions_missed(answered: list[dict]) -> dict[int, list[tuple[str, int]]]:
    """Lesson id -> its questions by how many attempts got them wrong, most first (two queries).

    Judged as the quiz judged them: right only with exactly the correct choices. Retired questions
    and choices count too, since the attempts that saw them are kept.
    """
    question_ids = {int(q) for answers in answered for q in answers if str(q).isdigit()}
    if not question_ids:
        return {}
    correct: dict[int, set[int]] = {q: set() for q in question_ids}
    for question_id, choice_id in Choice.all_objects.filter(
        question_id__in=question_ids, correct=True
    ).values_list("question_id", "id"):
        correct[question_id].add(choice_id)
    misses: dict[int, int] = defaultdict(int)
    for answers in answered:
        for question, chosen in answers.items():
            if str(question).isdigit() and set(chosen or []) != correct.get(int(question), set()):
                misses[int(question)] += 1
    result: dict[int, list[tuple[str, int]]] = defaultdict(list)
    questions = Question.all_objects.filter(pk__in=[q for q, n in misses.items() if n]).values_list(
        "pk", "lesson_id", "text"
    )
    for pk, lesson_id, text in sorted(questions, key=lambda row: -misses[row[0]]):
        result[lesson_id].append((text, misses[pk]))
    return result


def insights_page(*, teams: list[Team]) -> InsightsPage:
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in Membership.objects.filter(team__in=teams).values_list("team_id", "user_id"):
        members[team_id].append(user_id)
    user_ids = sorted({u for people in members.values() for u in people})
    first, milestones = _milestones(user_ids)
    by_team = [_group(t.name, members.get(t.pk, []), first, milestones) for t in teams]
    from django.contrib.auth import get_user_model

    cohort_people: dict[str, list[int]] = defaultdict(list)
    for pk, joined in get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "date_joined"):
        cohort_people[joined.strftime("%Y-%m")].append(pk)
    cohorts = [_group(month, cohort_people[month], first, milestones) for month in sorted(cohort_people)]
    _scale(by_team + cohorts)
    return InsightsPage(by_team, cohorts, _lessons(user_ids))

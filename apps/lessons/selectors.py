"""Reads for lessons and progress. Query counts do not grow with lessons or users."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import can_preview_unpublished
from apps.lessons.models import (
    SOURCE_LANGUAGE,
    TRANSLATION_LANGUAGES,
    ChecklistTick,
    Choice,
    Lesson,
    LessonTranslation,
    Page,
    Phase,
    PhaseTranslation,
    Progress,
    QuizAttempt,
    StuckFlag,
)


def completed_lesson_ids(*, user: AbstractBaseUser) -> set[int]:
    return set(
        Progress.objects.filter(user=user, status=Progress.Status.COMPLETED).values_list(
            "lesson_id", flat=True
        )
    )


def missing_prerequisites(*, user: AbstractBaseUser, lesson: Lesson) -> list[Lesson]:
    """Published prerequisites the user has not completed, in curriculum order."""
    done = completed_lesson_ids(user=user)
    return [p for p in lesson.prerequisites.visible().select_related("phase") if p.id not in done]


def lessons_to_complete(*, lessons: list[Lesson], done: set[int]) -> list[Lesson]:
    """Every lesson a learner must still complete to complete `lessons`: those not done, and their
    published prerequisites not done, and theirs, all the way down, in curriculum order.

    A lesson cannot be completed before its prerequisites, so "6 lessons to go" that needs three
    more first is a wrong count (issue 13). Two queries, however deep the chain.
    """
    needed = {lesson.pk for lesson in lessons if lesson.pk not in done}
    edges: dict[int, list[int]] = defaultdict(list)
    for lesson_id, prerequisite_id in Lesson.prerequisites.through.objects.values_list(
        "from_lesson_id", "to_lesson_id"
    ):
        edges[lesson_id].append(prerequisite_id)
    frontier = list(needed)
    while frontier:
        for prerequisite_id in edges[frontier.pop()]:
            if prerequisite_id not in done and prerequisite_id not in needed:
                needed.add(prerequisite_id)
                frontier.append(prerequisite_id)
    # Prerequisites that are not published do not block (a learner cannot complete a draft).
    rows = Lesson.objects.visible().filter(pk__in=needed).select_related("phase")
    return list(rows.order_by("phase__order", "order"))


def quiz_passed(*, user: AbstractBaseUser, lesson: Lesson) -> bool:
    """Whether the user has passed the lesson's quiz (it counts once its prerequisites are complete)."""
    return QuizAttempt.objects.filter(user_id=user.pk, lesson=lesson, passed=True).exists()


@dataclass
class PhaseCard:
    phase: Phase
    total: int = 0
    completed: int = 0
    in_progress: int = 0
    minutes: int = 0

    @property
    def percent(self) -> int:
        return round(100 * self.completed / self.total) if self.total else 0

    @property
    def is_complete(self) -> bool:
        return self.total > 0 and self.completed == self.total


def phases_overview(*, user: AbstractBaseUser) -> list[PhaseCard]:
    cards = {phase.id: PhaseCard(phase) for phase in Phase.objects.all()}
    for row in Lesson.objects.visible().values("phase_id").annotate(n=Count("id"), minutes=Sum("minutes")):
        cards[row["phase_id"]].total = row["n"]
        cards[row["phase_id"]].minutes = row["minutes"] or 0
    visible = Lesson.objects.visible()
    for row in (
        Progress.objects.filter(user=user, lesson__in=visible)
        .values("lesson__phase_id")
        .annotate(
            completed=Count("id", filter=Q(status=Progress.Status.COMPLETED)),
            in_progress=Count("id", filter=Q(status=Progress.Status.IN_PROGRESS)),
        )
    ):
        card = cards[row["lesson__phase_id"]]
        card.completed = row["completed"]
        card.in_progress = row["in_progress"]
    return [card for card in cards.values() if card.total]


def completed_phase_ids(*, user: AbstractBaseUser) -> set[int]:
    """Phases whose published lessons the user has all completed."""
    return {card.phase.id for card in phases_overview(user=user) if card.is_complete}


def lessons_for_user(user: AbstractBaseUser) -> QuerySet[Lesson]:
    """The lessons this user may open: published ones; SREs also see drafts."""
    if can_preview_unpublished(user):
        return Lesson.objects.all()
    return Lesson.objects.visible()


# -- which lesson teaches the fix (pod and Flux reasons, readiness rules) ----------------


@dataclass(frozen=True)
class LessonLink:
    """A lesson, at the section that explains one reason or rule (its top when it names none)."""

    lesson: Lesson
    anchor: str = ""

    @property
    def title(self) -> str:
        return self.lesson.title

    @property
    def url(self) -> str:
        path = reverse("lessons:lesson", args=[self.lesson.phase.slug, self.lesson.slug])
        return f"{path}#{self.anchor}" if self.anchor else path


def _published_in_order(*fields: str) -> list[Lesson]:
    return list(
        Lesson.objects.visible()
        .select_related("phase")
        .only("slug", "title", *fields, "sections", "phase__slug", "phase__order", "order")
        .order_by("phase__order", "order")
    )


def _link(lesson: Lesson, key: str) -> LessonLink:
    return LessonLink(lesson, (lesson.sections or {}).get(key, ""))


def lesson_for_reasons() -> dict[str, LessonLink]:
    """Reason (e.g. CrashLoopBackOff) -> the first published lesson that explains it, at its
    section (one query)."""
    mapping: dict[str, LessonLink] = {}
    for lesson in _published_in_order("related_reasons"):
        for reason in lesson.related_reasons or []:
            if reason not in mapping:
                mapping[reason] = _link(lesson, reason)
    return mapping


def lesson_for_rules(*, rules: dict[str, str], preferred_phase: str = "") -> dict[str, LessonLink]:
    """Rule id -> the published lesson that teaches its fix, at its section (one query).

    `rules` maps each known rule id to the slug of the lesson the rule itself names.
    A lesson naming the rule in `related_rules` wins, the lessons of `preferred_phase`
    first; otherwise the lesson the rule names, if it is published.
    """
    lessons = _published_in_order("related_rules")
    mapping: dict[str, LessonLink] = {}
    for lesson in sorted(lessons, key=lambda lesson: lesson.phase.slug != preferred_phase):
        for rule_id in lesson.related_rules or []:
            if rule_id in rules and rule_id not in mapping:
                mapping[rule_id] = _link(lesson, rule_id)
    by_slug = {lesson.slug: lesson for lesson in lessons}
    for rule_id, slug in rules.items():
        if rule_id not in mapping and slug in by_slug:
            mapping[rule_id] = _link(by_slug[slug], rule_id)
    return mapping


@dataclass
class PageView:
    page: Page
    wanted: str

    @property
    def untranslated(self) -> bool:
        return self.page.language != self.wanted


def page_get(*, slug: str, language: str) -> PageView:
    """A page (the glossary) in `language`, else in English; 404 when it was never imported."""
    rows = {row.language: row for row in Page.objects.filter(slug=slug)}
    page = rows.get(language) or rows.get(SOURCE_LANGUAGE)
    if page is None:
        raise Http404("No such page")
    return PageView(page, language)


def page_languages(*, slug: str) -> list[str]:
    return list(Page.objects.filter(slug=slug).order_by("language").values_list("language", flat=True))


def phase_get(*, slug: str) -> Phase:
    try:
        return Phase.objects.get(slug=slug)
    except Phase.DoesNotExist:
        raise Http404("No such phase") from None


@dataclass
class LessonRow:
    lesson: Lesson
    status: str  # "not_started" | "in_progress" | "completed"
    missing: list[Lesson] = field(default_factory=list)


def phase_lessons(*, phase: Phase, user: AbstractBaseUser) -> list[LessonRow]:
    lessons = list(
        lessons_for_user(user).filter(phase=phase).prefetch_related("prerequisites").order_by("order", "slug")
    )
    progress = dict(Progress.objects.filter(user=user, lesson__in=lessons).values_list("lesson_id", "status"))
    done = completed_lesson_ids(user=user)
    rows = []
    for lesson in lessons:
        missing = [p for p in lesson.prerequisites.all() if p.id not in done and p.is_visible()]
        rows.append(LessonRow(lesson, progress.get(lesson.id, "not_started"), missing))
    return rows


def quiz_choices(*, lesson: Lesson) -> dict[int, set[int]]:
    """Each of the lesson's questions with its choice ids: what a submitted quiz is read against."""
    choices: dict[int, set[int]] = {q: set() for q in lesson.questions.values_list("id", flat=True)}
    # The current quiz only: the default managers leave out retired questions and choices.
    for question_id, choice_id in Choice.objects.filter(question_id__in=list(choices)).values_list(
        "question_id", "id"
    ):
        choices[question_id].add(choice_id)
    return choices


# A quiz is passed with at least this share of questions right (rounded up):
# 3 of 3, 4 of 4, 4 of 5.
PASS_RATIO = 0.8


def quiz_pass_mark(total: int) -> int:
    """How many of a quiz's total questions must be right to pass."""
    return math.ceil(total * PASS_RATIO)


def _ranked(measure: Callable[[str], int], rank: Callable[[int], int]) -> Callable[[list[str]], set[int]]:
    """A guesser that sorts the choices by `measure` and takes the one at `rank(len)`.

    It returns every choice that measures the same as the one taken: on a tie it picks
    one of them at random.
    """

    def guess(texts: list[str]) -> set[int]:
        measured = [measure(text) for text in texts]
        taken = sorted(measured)[rank(len(texts))]
        return {i for i, value in enumerate(measured) if value == taken}

    return guess


def _words(text: str) -> int:
    return len(text.split())


# Learners who pick by a choice's look rather than its meaning. If one of them passes a
# lesson, the quiz measures how its answers were written, not what the learner knows
# (docs/decisions.md, "Quiz answers that give themselves away"). The middle one catches
# a quiz that hides its answers between a short and a long distractor.
QUIZ_GUESSERS: dict[str, Callable[[list[str]], set[int]]] = {
    "longest": _ranked(len, lambda n: n - 1),
    "most words": _ranked(_words, lambda n: n - 1),
    "shortest": _ranked(len, lambda n: 0),
    "fewest words": _ranked(_words, lambda n: 0),
    "middle": _ranked(len, lambda n: n // 2),
}


@dataclass
class GuessedQuiz:
    lesson: Lesson
    questions: int
    single: int  # questions with exactly one correct choice
    right: dict[str, float]  # per guesser: questions it gets right, on average over its tie-breaks

    @property
    def needed(self) -> int:
        return quiz_pass_mark(self.questions)

    def passed_by(self) -> list[str]:
        return [name for name, right in self.right.items() if self.questions and right >= self.needed]


def quiz_guessers(*, lessons: QuerySet[Lesson]) -> list[GuessedQuiz]:
    """How each of QUIZ_GUESSERS scores on each lesson's current quiz.

    A guesser picks one choice, so a question with several correct choices is never
    right for it. A tie between k choices, one of them correct, counts 1/k: the score a
    guesser gets on average.
    """
    results = []
    for lesson in lessons.prefetch_related("questions__choices").order_by("phase__order", "order"):
        questions = list(lesson.questions.all())
        right = dict.fromkeys(QUIZ_GUESSERS, 0.0)
        single = 0
        for question in questions:
            choices = list(question.choices.all())
            correct = [c for c in choices if c.correct]
            if len(correct) != 1:
                continue
            single += 1
            texts = [c.text for c in choices]
            for name, guess in QUIZ_GUESSERS.items():
                picks = guess(texts)
                right[name] += (choices.index(correct[0]) in picks) / len(picks)
        results.append(GuessedQuiz(lesson, len(questions), single, right))
    return results


# Quiz attempts, so that guessing is slower than learning (docs/decisions.md, "The quiz gate"):
# after a failed attempt, the learner's next attempt (on any lesson) waits, longer with each
# failure in the last hour; the first failure costs nothing.
QUIZ_WAIT_WINDOW = timedelta(hours=1)
QUIZ_WAIT_FIRST = timedelta(seconds=30)
QUIZ_WAIT_MAX = timedelta(minutes=10)
# Which questions were wrong (and the explanations, which tell) shows after a pass, or once the
# learner has failed this lesson's quiz this many times.
QUIZ_FEEDBACK_AFTER_FAILURES = 3


def quiz_wait(failures: int) -> timedelta:
    """The wait after the n-th failed attempt in the window: none, then 30 s, doubling up to 10 min."""
    if failures <= 1:
        return timedelta(0)
    return min(QUIZ_WAIT_FIRST * 2 ** min(failures - 2, 10), QUIZ_WAIT_MAX)


def quiz_next_attempt_at(*, user: AbstractBaseUser, now: datetime | None = None) -> datetime | None:
    """When the user may next submit a quiz, or None when they may now."""
    now = now or timezone.now()
    recent = list(
        QuizAttempt.objects.filter(user_id=user.pk, passed=False, created_at__gt=now - QUIZ_WAIT_WINDOW)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:20]  # enough to reach the longest wait
    )
    if not recent:
        return None
    until = recent[0] + quiz_wait(len(recent))
    return until if until > now else None


def seconds_until(when: datetime | None) -> int:
    """Whole seconds from now until `when` (rounded up), 0 when it has passed or is None."""
    if when is None:
        return 0
    return max(0, math.ceil((when - timezone.now()).total_seconds()))


def quiz_feedback_shown(*, user: AbstractBaseUser, lesson: Lesson) -> bool:
    """Whether the quiz may say which answers were wrong: after a pass, or after repeated failures."""
    attempts = QuizAttempt.objects.filter(user_id=user.pk, lesson=lesson)
    return (
        attempts.filter(passed=True).exists()
        or attempts.filter(passed=False).count() >= QUIZ_FEEDBACK_AFTER_FAILURES
    )


def _choices_shuffled(questions: list, *, user: AbstractBaseUser, attempt: int) -> None:
    """Each question's choices in an order of their own for this learner and attempt.

    Most authors write the right answer first; a stable order would teach "pick the first".
    The order stays put while the page is reloaded and changes with each attempt; the form
    sends choice ids, so the order never matters to the answer.
    """
    for question in questions:
        choices = list(question.choices.all())
        random.Random(f"{user.pk}:{question.pk}:{attempt}").shuffle(choices)
        question.shuffled_choices = choices


@dataclass
class LessonPage:
    lesson: Lesson
    progress: Progress | None
    questions: list
    checklist: list
    ticked: set[int]
    missing: list[Lesson]
    previous: Lesson | None
    next: Lesson | None
    next_attempt_at: datetime | None = None
    # The quiz is passed but the prerequisites are not complete: the lesson completes by itself then.
    passed_early: bool = False
    # What the reader reads: in `language`, which is `wanted` unless the lesson has no translation
    # into it (then English, and `untranslated`); `stale` when the translation predates its English.
    language: str = SOURCE_LANGUAGE
    wanted: str = SOURCE_LANGUAGE
    title: str = ""
    summary: str = ""
    body_html: str = ""
    phase_title: str = ""
    stale: bool = False
    languages: list[str] = field(default_factory=lambda: [SOURCE_LANGUAGE])

    @property
    def wait_seconds(self) -> int:
        return seconds_until(self.next_attempt_at)

    @property
    def untranslated(self) -> bool:
        return self.language != self.wanted


def _translated_titles(lessons: list[Lesson], language: str) -> None:
    """Show these (page-local, never saved) lessons under their title and summary in `language`."""
    if language == SOURCE_LANGUAGE or not lessons:
        return
    texts = {
        row[0]: row[1:]
        for row in LessonTranslation.objects.filter(language=language, lesson__in=lessons).values_list(
            "lesson_id", "title", "summary"
        )
    }
    for lesson in lessons:
        lesson.title, lesson.summary = texts.get(lesson.id, (lesson.title, lesson.summary))


def phases_translate(*, phases: list[Phase], lessons: list[Lesson] = (), language: str) -> None:
    """Show these (page-local, never saved) phases and lessons in `language` where translated.

    For the index, phase and progress pages; the lesson page does its own (LessonPage).
    """
    if language == SOURCE_LANGUAGE:
        return
    _translated_titles(list(lessons), language)
    if not phases:
        return
    texts = {
        row[0]: row[1:]
        for row in PhaseTranslation.objects.filter(language=language, phase__in=phases).values_list(
            "phase_id", "title", "summary", "intro_html"
        )
    }
    for phase in phases:
        phase.title, phase.summary, phase.intro_html = texts.get(
            phase.id, (phase.title, phase.summary, phase.intro_html)
        )


def _page_translate(page: LessonPage, translation: LessonTranslation) -> None:
    """Put the translation's text on the page's own question, choice and checklist rows.

    These rows were read for this page alone and are never saved, so the text they show can be
    the translation's while their ids (what the quiz form sends) stay the English rows'. An item
    the translation has no text for (written in the admin after the file) stays in English.
    """
    page.title, page.summary, page.body_html = translation.title, translation.summary, translation.body_html
    page.stale = translation.stale
    for question in page.questions:
        question.text = translation.quiz.get(question.key, {}).get("text", question.text)
        for choice in question.choices.all():
            texts = translation.quiz.get(choice.key, {})
            choice.text = texts.get("text", choice.text)
            choice.explain = texts.get("explain", choice.explain)
    if len(translation.checklist) == len(page.checklist):
        for item, text in zip(page.checklist, translation.checklist, strict=True):
            item.text = text


def lesson_get(*, phase_slug: str, slug: str, user: AbstractBaseUser) -> Lesson:
    try:
        return lessons_for_user(user).select_related("phase", "owner").get(slug=slug, phase__slug=phase_slug)
    except Lesson.DoesNotExist:
        raise Http404("No such lesson") from None


def lesson_page(*, lesson: Lesson, user: AbstractBaseUser, language: str = SOURCE_LANGUAGE) -> LessonPage:
    """The lesson as `user` reads it in `language` (English where it has no translation into it)."""
    questions = list(lesson.questions.prefetch_related("choices"))
    checklist = list(lesson.checklist.all())
    ticked = set(
        ChecklistTick.objects.filter(user=user, item__lesson=lesson).values_list("item_id", flat=True)
    )
    progress = Progress.objects.filter(user=user, lesson=lesson).first()
    done = completed_lesson_ids(user=user)
    missing = [p for p in lesson.prerequisites.visible().select_related("phase") if p.id not in done]
    sequence = list(
        Lesson.objects.visible()
        .select_related("phase")
        .only("id", "slug", "title", "phase__slug", "phase__order", "order")
        .order_by("phase__order", "order", "slug")
    )
    ids = [item.id for item in sequence]
    previous = nxt = None
    if lesson.id in ids:
        index = ids.index(lesson.id)
        previous = sequence[index - 1] if index > 0 else None
        nxt = sequence[index + 1] if index + 1 < len(sequence) else None
    page = LessonPage(lesson, progress, questions, checklist, ticked, missing, previous, nxt)
    page.title, page.summary, page.body_html = lesson.title, lesson.summary, lesson.body_html
    page.phase_title, page.wanted = lesson.phase.title, language
    translations = {t.language: t for t in lesson.translations.all()}
    page.languages = [SOURCE_LANGUAGE, *(code for code in TRANSLATION_LANGUAGES if code in translations)]
    if language in translations:
        page.language = language
        _page_translate(page, translations[language])
        page.phase_title = (
            PhaseTranslation.objects.filter(phase_id=lesson.phase_id, language=language)
            .values_list("title", flat=True)
            .first()
            or page.phase_title
        )
        _translated_titles([item for item in (previous, nxt) if item] + missing, language)
    if questions:
        attempts = QuizAttempt.objects.filter(user_id=user.pk, lesson=lesson).count()
        _choices_shuffled(questions, user=user, attempt=attempts)
        page.next_attempt_at = quiz_next_attempt_at(user=user)
        completed = progress is not None and progress.status == Progress.Status.COMPLETED
        page.passed_early = bool(missing) and not completed and quiz_passed(user=user, lesson=lesson)
    return page


@dataclass
class ProgressRow:
    lesson: Lesson
    status: str
    started_at: object = None
    completed_at: object = None


def user_progress(*, user: AbstractBaseUser) -> list[tuple[PhaseCard, list[ProgressRow]]]:
    cards = phases_overview(user=user)
    lessons = Lesson.objects.visible().select_related("phase").order_by("phase__order", "order")
    progress = {p.lesson_id: p for p in Progress.objects.filter(user=user)}
    by_phase: dict[int, list[ProgressRow]] = defaultdict(list)
    for lesson in lessons:
        p = progress.get(lesson.id)
        by_phase[lesson.phase_id].append(
            ProgressRow(
                lesson,
                p.status if p else "not_started",
                p.started_at if p else None,
                p.completed_at if p else None,
            )
        )
    return [(card, by_phase[card.phase.id]) for card in cards]


@dataclass
class MemberRow:
    user: object
    team: Team
    role: str
    cells: list[tuple[int, int]]  # (completed, total) per phase, in phase order


@dataclass
class FunnelRow:
    """One lesson's trouble, in people: each person counts once, however often they clicked or failed."""

    lesson: Lesson
    started: int = 0
    completed: int = 0
    quiz_failures: int = 0  # people who failed its quiz at least once
    stuck: int = 0  # people who said they were stuck on it

    @property
    def unfinished(self) -> int:
        return self.started - self.completed

    @property
    def trouble(self) -> tuple[int, int, int]:
        """What sorts "where people get stuck": people stuck, then failing its quiz, then not finishing."""
        return (self.stuck, self.quiz_failures, self.unfinished)


@dataclass
class TeamProgress:
    teams: list[Team]
    phases: list[PhaseCard]
    members: list[MemberRow]
    funnel: list[FunnelRow]  # only lessons with some trouble, the most troubled first
    stuck_comments: list[StuckFlag]
    # Quiz failures and stuck flags are counted over the viewer's whole scope, and shown only
    # when it holds enough people: otherwise these are left at 0 and this is False.
    private_counts: bool = True


# Quiz failures and stuck flags reach leads and SREs only as counts per lesson, and a count
# over one or two people is a statement about each of them: below this many people (besides
# the viewer, who knows their own), no counts.
PRIVATE_COUNTS_MIN_PEOPLE = 3


def team_progress(
    *, teams: list[Team], scope: list[Team], viewer: AbstractBaseUser, with_comments: bool
) -> TeamProgress:
    """Members x phases completion, and per lesson the started -> completed funnel.

    `teams` (chosen from the viewer's `scope`) narrows who completed what. Failure and
    stuck counts never narrow: counted over the whole scope, so that comparing one team
    with all cannot single anyone out, and withheld when the scope is too small.
    """
    memberships = list(
        Membership.objects.filter(team__in=teams)
        .select_related("user", "team")
        .order_by("team__name", "user__username")
    )
    user_ids = {m.user_id for m in memberships}
    visible = Lesson.objects.visible()
    lessons = list(visible.select_related("phase").order_by("phase__order", "order"))
    phases: dict[int, PhaseCard] = {}
    for lesson in lessons:
        card = phases.setdefault(lesson.phase_id, PhaseCard(lesson.phase))
        card.total += 1
    completed = defaultdict(dict)
    for row in (
        Progress.objects.filter(user_id__in=user_ids, status=Progress.Status.COMPLETED, lesson__in=visible)
        .values("user_id", "lesson__phase_id")
        .annotate(n=Count("id"))
    ):
        completed[row["user_id"]][row["lesson__phase_id"]] = row["n"]
    cards = list(phases.values())
    members = [
        MemberRow(
            m.user,
            m.team,
            m.role,
            [(completed[m.user_id].get(c.phase.id, 0), c.total) for c in cards],
        )
        for m in memberships
    ]
    funnel = {lesson.id: FunnelRow(lesson) for lesson in lessons}
    for row in (
        Progress.objects.filter(user_id__in=user_ids, lesson__in=visible)
        .values("lesson_id")
        .annotate(
            started=Count("id"),
            completed=Count("id", filter=Q(status=Progress.Status.COMPLETED)),
        )
    ):
        funnel[row["lesson_id"]].started = row["started"]
        funnel[row["lesson_id"]].completed = row["completed"]
    scope_ids = set(Membership.objects.filter(team__in=scope).values_list("user_id", flat=True))
    private_counts = len(scope_ids - {viewer.pk}) >= PRIVATE_COUNTS_MIN_PEOPLE
    if private_counts:
        for row in (
            QuizAttempt.objects.filter(user_id__in=scope_ids, passed=False, lesson__in=visible)
            .values("lesson_id")
            .annotate(n=Count("user_id", distinct=True))
        ):
            funnel[row["lesson_id"]].quiz_failures = row["n"]
        for row in (
            StuckFlag.objects.filter(user_id__in=scope_ids, lesson__in=visible)
            .values("lesson_id")
            .annotate(n=Count("user_id", distinct=True))
        ):
            funnel[row["lesson_id"]].stuck = row["n"]
    comments = []
    if with_comments:
        # Every reader's comments, whichever team (if any) they are in: narrowed to a team,
        # an unsigned comment would point at that team's few members.
        comments = list(
            StuckFlag.objects.select_related("lesson", "lesson__phase", "user").order_by("-created_at")[:100]
        )
    # Curriculum order breaks ties (sorted() is stable); a lesson nobody has trouble with is left out.
    troubled = sorted((row for row in funnel.values() if any(row.trouble)), key=lambda row: row.trouble,
                      reverse=True)  # fmt: skip
    return TeamProgress(teams, cards, members, troubled, comments, private_counts)

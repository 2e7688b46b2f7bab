"""Writes for lessons and learning progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import reversion
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core import inputs, timefmt
from apps.lessons.models import (
    STUCK_COMMENT_MAX_LENGTH,
    ChecklistItem,
    ChecklistTick,
    Lesson,
    Phase,
    Progress,
    QuizAttempt,
    StuckFlag,
)
from apps.lessons.rendering import RENDERER_VERSION, html_to_text, render_markdown
from apps.lessons.selectors import (
    missing_prerequisites,
    quiz_feedback_shown,
    quiz_next_attempt_at,
    quiz_pass_mark,
    seconds_until,
)
from apps.lessons.signals import phases_required


class PrerequisitesIncomplete(Exception):
    def __init__(self, missing: list[Lesson]):
        self.missing = missing
        super().__init__(
            _("Complete first: %(lessons)s") % {"lessons": ", ".join(lesson.title for lesson in missing)}
        )


class LessonNotCompletable(Exception):
    pass


def lesson_render(*, lesson: Lesson) -> None:
    """Store the rendered HTML on the lesson (the caller saves)."""
    lesson.body_html = render_markdown(lesson.body)
    lesson.body_text = html_to_text(lesson.body_html)
    lesson.rendered_with = RENDERER_VERSION


def phase_render(*, phase: Phase) -> None:
    phase.intro_html = render_markdown(phase.intro)


def lesson_requirement_update(*, lesson: Lesson) -> None:
    """Before a lesson is saved: stamp `gates_from` if this save makes it a new requirement.

    A lesson becomes one when it is published (now, or at its publish_at) into a phase an
    environment requires, or moved into such a phase while published. Gates count it only once
    their grace period from then has passed (apps.environments.gates), so that an SRE
    publishing a lesson never takes Promote and Roll back away from everyone at once. The
    caller saves (with `gates_from` among the fields).
    """
    if lesson.status != Lesson.Status.PUBLISHED:
        return
    stored = Lesson.objects.filter(pk=lesson.pk).values("status", "phase_id").first() if lesson.pk else None
    if stored and stored["status"] == Lesson.Status.PUBLISHED and stored["phase_id"] == lesson.phase_id:
        return  # the same requirement as before: an edit, not a new one
    now = timezone.now()
    required: set[int] = set()
    for _receiver, answer in phases_required.send(sender=Lesson, phase_ids={lesson.phase_id}):
        required |= set(answer or ())
    if lesson.phase_id in required:
        lesson.gates_from = max(lesson.publish_at or now, now)
    else:
        lesson.gates_from = None  # nothing requires its phase now: nobody has a right to lose


def lesson_set_status(*, lesson: Lesson, status: str, by: AbstractBaseUser, publish_at=None) -> Lesson:
    """Move a lesson through draft -> in review -> published (or archived)."""
    if status not in Lesson.Status.values:
        raise ValueError(f"unknown status {status!r}")
    with transaction.atomic(), reversion.create_revision():
        lesson.status = status
        if status == Lesson.Status.PUBLISHED and publish_at is not None:
            lesson.publish_at = publish_at
        lesson_requirement_update(lesson=lesson)
        lesson.save(update_fields=["status", "publish_at", "gates_from", "updated_at"])
        reversion.set_user(by)
        reversion.set_comment(f"Status set to {lesson.get_status_display()}")
    return lesson


def lesson_publish(*, lesson: Lesson, by: AbstractBaseUser, at=None) -> Lesson:
    return lesson_set_status(lesson=lesson, status=Lesson.Status.PUBLISHED, by=by, publish_at=at)


def progress_start(*, user: AbstractBaseUser, lesson: Lesson) -> Progress:
    """Record that the user opened the lesson (idempotent)."""
    progress, _ = Progress.objects.get_or_create(user=user, lesson=lesson)
    return progress


def _complete(*, user: AbstractBaseUser, lesson: Lesson) -> Progress:
    progress, _ = Progress.objects.get_or_create(user=user, lesson=lesson)
    if progress.status != Progress.Status.COMPLETED:
        progress.status = Progress.Status.COMPLETED
        progress.completed_at = timezone.now()
        progress.save(update_fields=["status", "completed_at"])
        _complete_passed_early(user=user, after=lesson)
    return progress


def _complete_passed_early(*, user: AbstractBaseUser, after: Lesson) -> None:
    """Complete the lessons whose quiz the user passed before `after`, their prerequisite, was done.

    A pass is kept rather than thrown away (issue 13): it counts as soon as the last
    prerequisite is complete, and that completion may unblock the next one in turn.
    """
    completed = Progress.objects.filter(user=user, status=Progress.Status.COMPLETED).values("lesson_id")
    waiting = (
        after.unlocks.visible()
        .filter(attempts__user=user, attempts__passed=True)
        .exclude(pk__in=completed)
        .distinct()
    )
    for lesson in waiting:
        if not missing_prerequisites(user=user, lesson=lesson):
            _complete(user=user, lesson=lesson)


def _require_prerequisites(*, user: AbstractBaseUser, lesson: Lesson) -> None:
    missing = missing_prerequisites(user=user, lesson=lesson)
    if missing:
        raise PrerequisitesIncomplete(missing)


def lesson_mark_done(*, user: AbstractBaseUser, lesson: Lesson) -> Progress:
    """Complete a lesson that has no quiz."""
    if lesson.questions.exists():
        raise LessonNotCompletable(_("This lesson is completed by passing its quiz."))
    _require_prerequisites(user=user, lesson=lesson)
    with transaction.atomic():
        return _complete(user=user, lesson=lesson)


class QuizTooSoon(Exception):
    """The learner's last attempts failed, and the wait before the next one has not passed."""

    def __init__(self, until: datetime):
        self.until = until
        wait = timefmt.duration(max(1, seconds_until(until)))
        super().__init__(
            _(
                "You can check your answers again in %(wait)s: time to re-read the parts of the lesson "
                "the questions are about. Your answers are kept."
            )
            % {"wait": wait}
        )


@dataclass
class QuestionResult:
    question_id: int
    correct: bool
    chosen: set[int]


@dataclass
class QuizResult:
    attempt: QuizAttempt
    passed: bool
    score: int
    total: int
    needed: int
    results: dict[int, QuestionResult]
    completed: bool
    blocked_by: list[Lesson]
    feedback: bool = False  # may the page say which questions were wrong (and show the explanations)
    next_attempt_at: datetime | None = None

    @property
    def wait_seconds(self) -> int:
        return seconds_until(self.next_attempt_at)


def quiz_submit(*, user: AbstractBaseUser, lesson: Lesson, answers: dict[int, set[int]]) -> QuizResult:
    """Check answers on the server, record the attempt, and complete the lesson on a pass.

    answers maps question id to the chosen choice ids. A question is right when
    exactly its correct choices were chosen. Raises QuizTooSoon while the learner's
    wait after failed attempts runs, and InvalidInput when nothing at all was chosen:
    an empty form (a stray click on the button) is not an attempt, so it neither counts
    as a failure that leads see nor makes the next attempt wait. Nothing is recorded then.
    """
    questions = list(lesson.questions.prefetch_related("choices"))
    if not questions:
        raise LessonNotCompletable(_("This lesson has no quiz."))
    if not any(answers.get(question.id) for question in questions):
        raise inputs.InvalidInput(
            _(
                "Choose your answers first: a quiz sent with nothing chosen is not an attempt, and was not "
                "counted."
            ),
            field="quiz",
        )
    results = {}
    for question in questions:
        chosen = set(answers.get(question.id, set()))
        correct_ids = {c.id for c in question.choices.all() if c.correct}
        valid_ids = {c.id for c in question.choices.all()}
        chosen &= valid_ids
        results[question.id] = QuestionResult(question.id, chosen == correct_ids, chosen)
    score = sum(r.correct for r in results.values())
    total = len(questions)
    needed = quiz_pass_mark(total)
    passed = score >= needed
    missing = missing_prerequisites(user=user, lesson=lesson)
    with transaction.atomic():
        # One attempt at a time per learner, whichever process serves it: the wait is read
        # and the attempt written under this lock, so a burst of parallel posts counts as
        # what it is (one attempt, then waits).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
        until = quiz_next_attempt_at(user=user)
        if until is not None:
            raise QuizTooSoon(until)
        Progress.objects.get_or_create(user=user, lesson=lesson)
        attempt = QuizAttempt.objects.create(
            user=user,
            lesson=lesson,
            passed=passed,
            score=score,
            total=total,
            answers={str(q): sorted(r.chosen) for q, r in results.items()},
        )
        completed = False
        if passed and not missing:
            _complete(user=user, lesson=lesson)
            completed = True
    return QuizResult(
        attempt, passed, score, total, needed, results, completed, missing,
        feedback=quiz_feedback_shown(user=user, lesson=lesson),
        next_attempt_at=None if passed else quiz_next_attempt_at(user=user),
    )  # fmt: skip


def checklist_tick(*, user: AbstractBaseUser, item: ChecklistItem, done: bool) -> bool:
    if done:
        try:
            with transaction.atomic():
                ChecklistTick.objects.get_or_create(user=user, item=item)
        except IntegrityError:
            pass  # ticked twice at once: already done
        Progress.objects.get_or_create(user=user, lesson=item.lesson)
    else:
        ChecklistTick.objects.filter(user=user, item=item).delete()
    return done


def stuck_flag_create(
    *, user: AbstractBaseUser, lesson: Lesson, comment: str = "", signed: bool = False
) -> StuckFlag:
    """Record that the reader is stuck; InvalidInput for a comment that is too long or not plain text."""
    comment = inputs.text(comment, field="comment", max_length=STUCK_COMMENT_MAX_LENGTH, multiline=True)
    return StuckFlag.objects.create(user=user, lesson=lesson, comment=comment, signed=signed)


def lessons_rerender_stale() -> int:
    """Re-render lessons rendered by an older RENDERER_VERSION; returns how many."""
    count = 0
    for lesson in Lesson.objects.exclude(rendered_with=RENDERER_VERSION).iterator():
        lesson_render(lesson=lesson)
        Lesson.objects.filter(pk=lesson.pk).update(
            body_html=lesson.body_html, body_text=lesson.body_text, rendered_with=lesson.rendered_with
        )
        count += 1
    return count

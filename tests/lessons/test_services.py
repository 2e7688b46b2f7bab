import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.lessons import selectors, services
from apps.lessons.models import ChecklistTick, Lesson, Progress, QuizAttempt, StuckFlag
from tests.factories import (
    ChecklistItemFactory,
    LessonFactory,
    UserFactory,
    quiz_lesson,
    right_answers,
)

pytestmark = pytest.mark.django_db


def wait_passed() -> None:
    """Move every attempt back out of the wait's window, instead of sleeping through the wait."""
    QuizAttempt.objects.update(created_at=timezone.now() - selectors.QUIZ_WAIT_WINDOW)


def test_a_quiz_passed_completes_the_lesson():
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    result = services.quiz_submit(user=user, lesson=lesson, answers=right_answers(lesson))
    assert result.passed and result.completed and result.score == 3
    progress = Progress.objects.get(user=user, lesson=lesson)
    assert progress.status == Progress.Status.COMPLETED and progress.completed_at is not None


def test_a_failed_quiz_is_recorded_and_does_not_complete():
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    answers = right_answers(lesson)
    first = next(iter(answers))
    answers[first] = set()
    result = services.quiz_submit(user=user, lesson=lesson, answers=answers)
    assert not result.passed and result.score == 2 and result.needed == 3
    assert Progress.objects.get(user=user, lesson=lesson).status == Progress.Status.IN_PROGRESS
    assert QuizAttempt.objects.get(user=user, lesson=lesson).passed is False


def test_four_of_five_passes():
    user, lesson = UserFactory(), quiz_lesson(questions=5)
    answers = right_answers(lesson)
    answers[next(iter(answers))] = set()
    assert services.quiz_submit(user=user, lesson=lesson, answers=answers).passed


def test_a_multiple_choice_question_needs_every_correct_choice_and_no_other():
    user, lesson = UserFactory(), quiz_lesson(questions=1, multiple=True)
    question = lesson.questions.get()
    correct = {c.id for c in question.choices.filter(correct=True)}
    wrong = set(question.choices.filter(correct=False).values_list("id", flat=True))
    assert len(correct) == 2
    partial = {question.id: {min(correct)}}
    assert not services.quiz_submit(user=user, lesson=lesson, answers=partial).passed
    too_many = {question.id: correct | wrong}
    assert not services.quiz_submit(user=user, lesson=lesson, answers=too_many).passed
    wait_passed()
    assert services.quiz_submit(user=user, lesson=lesson, answers={question.id: correct}).passed


def test_choices_from_another_question_do_not_count():
    user, lesson, other = UserFactory(), quiz_lesson(questions=1), quiz_lesson(questions=1)
    question = lesson.questions.get()
    foreign = {c.id for c in other.questions.get().choices.filter(correct=True)}
    result = services.quiz_submit(user=user, lesson=lesson, answers={question.id: foreign})
    assert not result.passed and result.results[question.id].chosen == set()


def test_incomplete_prerequisites_block_completion_but_not_the_quiz():
    user = UserFactory()
    first = quiz_lesson(questions=3)
    second = quiz_lesson(questions=3, phase=first.phase)
    second.prerequisites.add(first)
    result = services.quiz_submit(user=user, lesson=second, answers=right_answers(second))
    assert result.passed and not result.completed
    assert [lesson.id for lesson in result.blocked_by] == [first.id]
    services.quiz_submit(user=user, lesson=first, answers=right_answers(first))
    assert services.quiz_submit(user=user, lesson=second, answers=right_answers(second)).completed


def test_a_draft_prerequisite_does_not_block():
    user = UserFactory()
    draft = LessonFactory(status=Lesson.Status.DRAFT)
    lesson = LessonFactory()
    lesson.prerequisites.add(draft)
    assert services.lesson_mark_done(user=user, lesson=lesson).status == Progress.Status.COMPLETED


def test_mark_done_refuses_a_lesson_with_a_quiz():
    with pytest.raises(services.LessonNotCompletable):
        services.lesson_mark_done(user=UserFactory(), lesson=quiz_lesson())


def test_mark_done_refuses_while_prerequisites_are_incomplete():
    user, first, lesson = UserFactory(), LessonFactory(), LessonFactory()
    lesson.prerequisites.add(first)
    with pytest.raises(services.PrerequisitesIncomplete) as excinfo:
        services.lesson_mark_done(user=user, lesson=lesson)
    assert excinfo.value.missing == [first]
    assert not Progress.objects.filter(user=user, lesson=lesson, status="completed").exists()


def test_checklist_ticks_toggle_and_start_the_lesson():
    user = UserFactory()
    item = ChecklistItemFactory()
    services.checklist_tick(user=user, item=item, done=True)
    services.checklist_tick(user=user, item=item, done=True)
    assert ChecklistTick.objects.filter(user=user, item=item).count() == 1
    assert Progress.objects.filter(user=user, lesson=item.lesson).exists()
    services.checklist_tick(user=user, item=item, done=False)
    assert not ChecklistTick.objects.filter(user=user, item=item).exists()


def test_stuck_flags_keep_the_comment_and_the_choice_to_sign():
    user, lesson = UserFactory(), LessonFactory()
    flag = services.stuck_flag_create(user=user, lesson=lesson, comment="  lost at step 3 ", signed=True)
    assert StuckFlag.objects.get(pk=flag.pk).comment == "lost at step 3"
    assert flag.signed


def test_publishing_records_a_revision_with_the_user():
    from reversion.models import Version

    sre = UserFactory()
    lesson = LessonFactory(status=Lesson.Status.DRAFT)
    services.lesson_publish(lesson=lesson, by=sre)
    lesson.refresh_from_db()
    assert lesson.status == Lesson.Status.PUBLISHED
    version = Version.objects.get_for_object(lesson).first()
    assert version.revision.user == sre
    assert "Published" in version.revision.get_comment()


def test_scheduled_lessons_stay_hidden_until_their_time():
    from datetime import timedelta

    from django.utils import timezone

    later = LessonFactory(publish_at=timezone.now() + timedelta(hours=1))
    now = LessonFactory(publish_at=timezone.now() - timedelta(minutes=1))
    visible = set(Lesson.objects.visible())
    assert now in visible and later not in visible
    assert later in set(Lesson.objects.visible(now=timezone.now() + timedelta(hours=2)))


def test_stale_renderings_are_refreshed():
    lesson = LessonFactory(body="**bold**")
    # As a lesson saved before body_text existed is (its migration marks every lesson stale).
    Lesson.objects.filter(pk=lesson.pk).update(rendered_with=0, body_html="old", body_text="")
    assert services.lessons_rerender_stale() == 1
    lesson.refresh_from_db()
    assert lesson.body_html == "<p><strong>bold</strong></p>" and lesson.body_text == "bold"
    assert services.lessons_rerender_stale() == 0


# The wait between failed attempts ---------------------------------------------------------


def _wrong(lesson) -> dict[int, set[int]]:
    return {q.id: {q.choices.get(order=2).id} for q in lesson.questions.all()}


def test_the_wait_grows_with_each_failure_in_the_hour():
    waits = [selectors.quiz_wait(n).total_seconds() for n in range(1, 9)]
    assert waits == [0, 30, 60, 120, 240, 480, 600, 600]


def test_the_first_failure_costs_nothing_the_second_makes_the_next_attempt_wait():
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    first = services.quiz_submit(user=user, lesson=lesson, answers=_wrong(lesson))
    assert first.next_attempt_at is None
    second = services.quiz_submit(user=user, lesson=lesson, answers=_wrong(lesson))
    assert 29 <= second.wait_seconds <= 30
    with pytest.raises(services.QuizTooSoon, match=r"again in (29|30) s"):
        services.quiz_submit(user=user, lesson=lesson, answers=right_answers(lesson))
    assert QuizAttempt.objects.count() == 2  # the refused attempt is not recorded
    assert not Progress.objects.filter(status="completed").exists()


def test_the_wait_counts_failures_on_every_lesson_of_the_learner_and_no_one_else():
    user, lessons = UserFactory(), [quiz_lesson(questions=3) for _ in range(3)]
    services.quiz_submit(user=user, lesson=lessons[0], answers=_wrong(lessons[0]))
    services.quiz_submit(user=user, lesson=lessons[1], answers=_wrong(lessons[1]))
    with pytest.raises(services.QuizTooSoon):
        services.quiz_submit(user=user, lesson=lessons[2], answers=right_answers(lessons[2]))
    assert services.quiz_submit(
        user=UserFactory(), lesson=lessons[2], answers=right_answers(lessons[2])
    ).passed


def test_failures_older_than_the_window_do_not_count():
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    for _ in range(6):
        QuizAttempt.objects.create(user=user, lesson=lesson, passed=False, score=0, total=3,
                                   created_at=timezone.now() - timedelta(hours=1, minutes=1))  # fmt: skip
    assert selectors.quiz_next_attempt_at(user=user) is None
    assert services.quiz_submit(user=user, lesson=lesson, answers=right_answers(lesson)).completed


def test_feedback_shows_after_a_pass_or_the_third_failure_on_the_lesson():
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    assert not services.quiz_submit(user=user, lesson=lesson, answers=_wrong(lesson)).feedback
    wait_passed()
    assert not services.quiz_submit(user=user, lesson=lesson, answers=_wrong(lesson)).feedback
    wait_passed()
    assert services.quiz_submit(user=user, lesson=lesson, answers=_wrong(lesson)).feedback
    other = quiz_lesson(questions=3)
    wait_passed()
    assert services.quiz_submit(user=user, lesson=other, answers=right_answers(other)).feedback


@pytest.mark.django_db(transaction=True)
def test_parallel_attempts_are_taken_one_at_a_time():
    """A burst of simultaneous posts (one connection each, as from several web processes) meets the wait."""
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    wrong, outcomes = _wrong(lesson), []
    start = threading.Barrier(8)

    def attempt():
        try:
            start.wait()
            services.quiz_submit(user=user, lesson=lesson, answers=wrong)
            outcomes.append("recorded")
        except services.QuizTooSoon:
            outcomes.append("wait")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["recorded"] * 2 + ["wait"] * 6
    assert QuizAttempt.objects.filter(user=user).count() == 2


def test_an_empty_submission_is_refused_and_recorded_nowhere():
    from apps.core.inputs import InvalidInput

    user, lesson = UserFactory(), quiz_lesson(questions=3)
    for empty in ({}, {q.id: set() for q in lesson.questions.all()}):
        with pytest.raises(InvalidInput, match="not an attempt"):
            services.quiz_submit(user=user, lesson=lesson, answers=empty)
    assert not QuizAttempt.objects.exists() and selectors.quiz_next_attempt_at(user=user) is None


def test_a_quiz_passed_before_its_prerequisites_is_kept_and_completes_with_them():
    """The pass is not thrown away: completing the last prerequisite completes the lesson, down a chain."""
    user = UserFactory()
    first = LessonFactory()  # marked done
    second = quiz_lesson(questions=3, phase=first.phase)
    third = quiz_lesson(questions=3, phase=first.phase)
    second.prerequisites.add(first)
    third.prerequisites.add(second)
    assert not services.quiz_submit(user=user, lesson=third, answers=right_answers(third)).completed
    assert not services.quiz_submit(user=user, lesson=second, answers=right_answers(second)).completed
    assert selectors.lesson_page(lesson=third, user=user).passed_early
    services.lesson_mark_done(user=user, lesson=first)
    done = set(Progress.objects.filter(user=user, status="completed").values_list("lesson_id", flat=True))
    assert done == {first.id, second.id, third.id}
    assert not selectors.lesson_page(lesson=third, user=user).passed_early


def test_a_failed_attempt_is_not_kept_as_a_pass():
    user = UserFactory()
    first, second = LessonFactory(), quiz_lesson(questions=3)
    second.prerequisites.add(first)
    answers = right_answers(second)
    answers[next(iter(answers))] = {second.questions.first().choices.filter(correct=False).first().id}
    assert not services.quiz_submit(user=user, lesson=second, answers=answers).passed
    services.lesson_mark_done(user=user, lesson=first)
    assert not Progress.objects.filter(user=user, lesson=second, status="completed").exists()

import pytest

from apps.lessons import services
from apps.lessons.models import ChecklistTick, Lesson, Progress, QuizAttempt, StuckFlag
from tests.factories import (
    ChecklistItemFactory,
    LessonFactory,
    UserFactory,
    quiz_lesson,
    right_answers,
)

pytestmark = pytest.mark.django_db


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
    Lesson.objects.filter(pk=lesson.pk).update(rendered_with=0, body_html="old")
    assert services.lessons_rerender_stale() == 1
    lesson.refresh_from_db()
    assert lesson.body_html == "<p><strong>bold</strong></p>"
    assert services.lessons_rerender_stale() == 0

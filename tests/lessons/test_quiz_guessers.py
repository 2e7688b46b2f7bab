"""quiz_guessers: how a learner who picks by a choice's length would score."""

from io import StringIO

import pytest
from django.core.management import call_command

from apps.lessons.models import Lesson
from apps.lessons.selectors import quiz_guessers, quiz_pass_mark
from tests.factories import ChoiceFactory, LessonFactory, QuestionFactory

pytestmark = pytest.mark.django_db


def lesson_with(quiz: list[list[tuple[str, bool]]], **kwargs) -> Lesson:
    """A lesson whose quiz is [[(choice text, correct)]], one list per question."""
    lesson = LessonFactory(**kwargs)
    for q, choices in enumerate(quiz):
        question = QuestionFactory(lesson=lesson, order=q)
        for c, (text, correct) in enumerate(choices):
            ChoiceFactory(question=question, order=c, text=text, correct=correct)
    return lesson


def guessed(lesson: Lesson):
    [result] = quiz_guessers(lessons=Lesson.objects.filter(id=lesson.id))
    return result


LONG_RIGHT = [("The right answer, written out at length", True), ("Wrong", False), ("No", False)]
SHORT_RIGHT = [("Right", True), ("A wrong answer that goes on and on", False), ("Wrong too", False)]


def test_pass_mark_is_eighty_percent_rounded_up():
    assert [quiz_pass_mark(n) for n in (3, 4, 5, 6)] == [3, 4, 4, 5]


def test_a_quiz_whose_right_answers_are_longest_is_passed_by_the_longest_guesser():
    result = guessed(lesson_with([LONG_RIGHT] * 4 + [SHORT_RIGHT]))
    assert result.right == {"longest": 4, "most words": 4, "shortest": 1, "fewest words": 1, "middle": 0}
    assert result.passed_by() == ["longest", "most words"]


def test_a_quiz_with_balanced_lengths_is_passed_by_no_guesser():
    middle = [("Gamma delta", True), ("Alpha beta", False), ("Epsilon zeta eta", False)]
    result = guessed(lesson_with([middle, middle, middle, LONG_RIGHT, SHORT_RIGHT]))
    assert result.right == {"longest": 1, "most words": 1, "shortest": 1, "fewest words": 2.5, "middle": 3}
    assert result.passed_by() == []


def test_right_answers_that_are_always_shortest_are_a_tell_too():
    assert guessed(lesson_with([SHORT_RIGHT] * 5)).passed_by() == ["shortest", "fewest words"]


def test_right_answers_always_between_a_short_and_a_long_one_are_a_tell_too():
    between = [
        ("Wrong", False),
        ("Right, of middling length", True),
        ("Wrong, and by far the longest", False),
    ]
    assert guessed(lesson_with([between] * 5)).passed_by() == ["middle"]


def test_a_tie_counts_as_the_share_of_tied_choices_that_is_right():
    tie = [("Same length A", True), ("Same length B", False), ("Short", False)]
    assert guessed(lesson_with([tie])).right["longest"] == 0.5
    words = [("one two", True), ("three four", False), ("five six", False)]
    assert guessed(lesson_with([words])).right["most words"] == pytest.approx(1 / 3)


def test_a_question_with_several_right_choices_is_never_guessed_with_one_pick():
    several = [("The first right answer, long", True), ("The second right one", True), ("No", False)]
    result = guessed(lesson_with([several, LONG_RIGHT]))
    assert (result.questions, result.single) == (2, 1)
    assert result.right["longest"] == 1 and result.passed_by() == []


def test_the_command_reports_each_lesson_and_the_pass_rate():
    lesson_with([LONG_RIGHT] * 5, slug="giveaway")
    lesson_with([SHORT_RIGHT] * 5, slug="fair")
    out = StringIO()
    call_command("quiz_guessers", stdout=out)
    text = out.getvalue()
    giveaway = next(line for line in text.splitlines() if "/giveaway " in line)
    assert "5/5 PASS" in giveaway
    assert "longest: passes 1 of 2 lessons (50 %); picks the correct choice in 5 of 10" in text

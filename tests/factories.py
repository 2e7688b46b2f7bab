from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from apps.accounts.models import Membership, Team
from apps.lessons.models import Choice, Lesson, Phase, Question
from apps.lessons.rendering import RENDERER_VERSION, html_to_text, render_markdown

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.MEMBER


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    order = factory.Sequence(lambda n: n + 1)
    slug = factory.Sequence(lambda n: f"phase-{n}")
    title = factory.Sequence(lambda n: f"Phase {n}")
    summary = "What this phase teaches."


class LessonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesson

    phase = factory.SubFactory(PhaseFactory)
    order = factory.Sequence(lambda n: n + 1)
    slug = factory.Sequence(lambda n: f"lesson-{n}")
    title = factory.Sequence(lambda n: f"Lesson {n}")
    summary = "A lesson."
    minutes = 10
    body = "## Section\n\nSome text about **pods** and `kubectl`.\n"
    body_html = factory.LazyAttribute(lambda o: render_markdown(o.body))
    body_text = factory.LazyAttribute(lambda o: html_to_text(o.body_html))
    rendered_with = RENDERER_VERSION
    status = Lesson.Status.PUBLISHED


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    lesson = factory.SubFactory(LessonFactory)
    order = factory.Sequence(lambda n: n)
    text = factory.Sequence(lambda n: f"Question {n}?")


class ChoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Choice

    question = factory.SubFactory(QuestionFactory)
    order = factory.Sequence(lambda n: n)
    text = factory.Sequence(lambda n: f"Choice {n}")
    correct = False
    explain = "Because."


def quiz_lesson(*, questions: int = 3, multiple: bool = False, **kwargs) -> Lesson:
    """A published lesson whose quiz has `questions` questions; the first choice is right."""
    lesson = LessonFactory(**kwargs)
    for q in range(questions):
        question = QuestionFactory(lesson=lesson, order=q)
        ChoiceFactory(question=question, order=0, correct=True, explain="Right, because.")
        ChoiceFactory(question=question, order=1, correct=multiple and q == 0)
        ChoiceFactory(question=question, order=2, explain="Not this one.")
    return lesson


def right_answers(lesson: Lesson) -> dict[int, set[int]]:
    return {
        q.id: {c.id for c in q.choices.all() if c.correct}
        for q in lesson.questions.prefetch_related("choices")
    }


class ChecklistItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "lessons.ChecklistItem"

    lesson = factory.SubFactory(LessonFactory)
    order = factory.Sequence(lambda n: n)
    text = factory.Sequence(lambda n: f"I did thing {n}")


class QuizAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "lessons.QuizAttempt"

    user = factory.SubFactory(UserFactory)
    lesson = factory.SubFactory(LessonFactory)
    passed = False
    score = 1
    total = 3

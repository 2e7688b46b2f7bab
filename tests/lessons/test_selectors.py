"""Page queries stay constant as lessons and users grow."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Membership
from apps.lessons import selectors
from apps.lessons.models import Progress
from apps.lessons.search import lesson_search
from tests.factories import (
    LessonFactory,
    MembershipFactory,
    PhaseFactory,
    TeamFactory,
    UserFactory,
    quiz_lesson,
)

pytestmark = pytest.mark.django_db


def build(phases: int, lessons_per_phase: int, members: int):
    team = TeamFactory()
    lead = MembershipFactory(team=team, role=Membership.Role.LEAD).user
    users = [MembershipFactory(team=team).user for _ in range(members)]
    lessons = []
    for _ in range(phases):
        phase = PhaseFactory()
        for _ in range(lessons_per_phase):
            lesson = quiz_lesson(questions=3, phase=phase)
            lessons.append(lesson)
    for user in users:
        for lesson in lessons[::2]:
            Progress.objects.create(user=user, lesson=lesson, status="completed")
    return team, lead, lessons


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_kind", ["index", "phase", "lesson", "progress", "teams"])
def test_queries_do_not_grow_with_lessons_or_users(client, url_kind):
    def url_for(lessons, lead):
        lesson = lessons[-1]
        return {
            "index": "/learn/",
            "phase": f"/learn/{lesson.phase.slug}/",
            "lesson": f"/learn/{lesson.phase.slug}/{lesson.slug}/",
            "progress": "/learn/progress/",
            "teams": "/learn/teams/",
        }[url_kind]

    _, lead, lessons = build(phases=2, lessons_per_phase=2, members=3)  # 3: enough people for counts
    client.force_login(lead)
    url = url_for(lessons, lead)
    count_queries(client, url)  # warm: the first view records progress
    small = count_queries(client, url)

    _, lead2, lessons2 = build(phases=3, lessons_per_phase=6, members=8)
    client.force_login(lead2)
    url = url_for(lessons2, lead2)
    count_queries(client, url)
    large = count_queries(client, url)
    assert large == small, f"{url_kind}: {small} queries with 4 lessons, {large} with 22"


def test_phases_overview_counts_only_visible_lessons():
    user = UserFactory()
    lesson = LessonFactory()
    LessonFactory(phase=lesson.phase, status="draft")
    Progress.objects.create(user=user, lesson=lesson, status="completed")
    (card,) = selectors.phases_overview(user=user)
    assert (card.total, card.completed, card.is_complete) == (1, 1, True)
    assert selectors.completed_phase_ids(user=user) == {lesson.phase_id}


def test_the_first_published_lesson_explains_a_reason():
    first = LessonFactory(phase=PhaseFactory(order=1), related_reasons=["CrashLoopBackOff"])
    LessonFactory(phase=PhaseFactory(order=2), related_reasons=["CrashLoopBackOff", "OOMKilled"])
    LessonFactory(status="draft", related_reasons=["ImagePullBackOff"])
    mapping = selectors.lesson_for_reasons()
    assert mapping["CrashLoopBackOff"].lesson == first and mapping["OOMKilled"].lesson.order != first.order
    assert "ImagePullBackOff" not in mapping  # only a draft explains it


def test_a_reason_links_to_the_section_that_explains_it():
    lesson = LessonFactory(
        phase=PhaseFactory(slug="kubernetes"), slug="debugging", related_reasons=["CrashLoopBackOff", "Error"],
        sections={"CrashLoopBackOff": "crashloopbackoff"},
    )  # fmt: skip
    mapping = selectors.lesson_for_reasons()
    assert mapping["CrashLoopBackOff"].url == "/learn/kubernetes/debugging/#crashloopbackoff"
    assert mapping["Error"].url == "/learn/kubernetes/debugging/"  # no section named: the top
    assert mapping["Error"].title == lesson.title


def test_a_rule_is_taught_by_a_lesson_naming_it_in_the_preferred_phase_first_then_by_the_rules_own():
    early = LessonFactory(phase=PhaseFactory(slug="observability", order=1), related_rules=["metrics"])
    late = LessonFactory(phase=PhaseFactory(slug="production-readiness", order=5), related_rules=["metrics"])
    fallback = LessonFactory(slug="debugging-failing-pods")
    LessonFactory(slug="probes", status="draft", related_rules=["probes"])
    LessonFactory(related_rules=["no-such-rule"])
    rules = {"metrics": "monitoring", "restarts": "debugging-failing-pods", "probes": "probes"}
    mapping = selectors.lesson_for_rules(rules=rules, preferred_phase="production-readiness")
    assert {rule: link.lesson for rule, link in mapping.items()} == {"metrics": late, "restarts": fallback}
    assert (
        selectors.lesson_for_rules(rules=rules)["metrics"].lesson == early
    )  # no preference: curriculum order


def test_search_without_postgres_ranks_title_over_summary_over_body_and_marks_every_word(monkeypatch):
    """The demo's SQLite path: words anywhere, ranked as PostgreSQL ranks, snippets cut around
    the first match. (The tests' database is PostgreSQL; the vendor is what picks the path.)"""
    monkeypatch.setattr(connection, "vendor", "sqlite")
    body_only = LessonFactory(
        phase=PhaseFactory(order=1), title="Rollouts", summary="Old pods go.",
        body="Intro words. " * 40 + "Then the **preStop** hook runs before SIGTERM.",
    )  # fmt: skip
    in_summary = LessonFactory(phase=PhaseFactory(order=2), title="Draining", summary="Runs preStop hooks.")
    in_title = LessonFactory(phase=PhaseFactory(order=3), title="The PRESTOP hook", summary="Waits.")
    LessonFactory(title="Logs", summary="Loki.", body="Nothing about hooks.")
    hits = lesson_search(query="prestop hook", user=UserFactory())
    assert [hit.lesson for hit in hits] == [in_title, in_summary, body_only]
    assert ("PRESTOP", True) in hits[0].title_marked and ("hook", True) in hits[0].title_marked
    snippet = hits[2].snippet
    assert snippet[0][0].startswith("…") and ("preStop", True) in snippet and ("hook", True) in snippet
    assert "**" not in "".join(text for text, _ in snippet)

"""Are the lessons working: a seeded history with known answers, and who may see it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import FirstSignIn, Membership
from apps.clusters.models import Cluster
from apps.environments.models import Deployment, Environment
from apps.insights.selectors import insights_page
from apps.lessons.models import Progress, QuizAttempt, StuckFlag
from tests.factories import LessonFactory, MembershipFactory, PhaseFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def history(db):
    """Payments: ann, ben, cat joined in September, dan in October (never signed in)."""
    team = TeamFactory(slug="payments", name="Payments")
    other = TeamFactory(slug="ledger", name="Ledger")
    phase = PhaseFactory(slug="basics", title="Basics", order=1)
    one = LessonFactory(phase=phase, slug="one", order=1)
    two = LessonFactory(phase=phase, slug="two", order=2)
    cluster = Cluster.objects.create(name="c1", connection="kubeconfig", kubeconfig_path="/nonexistent")
    common = {"team": team, "app": "api", "cluster": cluster, "repo_url": "/x.git", "kustomization": "f/k",
              "kustomization_path": "k.yaml", "image": "r/api"}  # fmt: skip
    staging = Environment.objects.create(stage="staging", namespace="s", **common)
    production = Environment.objects.create(stage="production", namespace="p", **common)
    people = {}
    for name, joined in (("ann", T0), ("ben", T0), ("cat", T0), ("dan", T0 + timedelta(days=35))):
        user = UserFactory(username=name, date_joined=joined)
        MembershipFactory(team=team, user=user)
        people[name] = user
    lead = MembershipFactory(team=team, user=UserFactory(username="lea"), role=Membership.Role.LEAD).user
    outsider = MembershipFactory(team=other, user=UserFactory(username="oz"), role=Membership.Role.LEAD).user
    for name in ("ann", "ben", "cat"):
        FirstSignIn.objects.create(user=people[name], at=T0)

    def done(user, lesson, days):
        Progress.objects.create(
            user=user, lesson=lesson, status="completed", completed_at=T0 + timedelta(days=days)
        )

    done(people["ann"], one, 1)
    done(people["ann"], two, 3)  # ann completes the phase on day 3
    done(people["ben"], one, 2)
    done(people["cat"], one, 5)
    done(people["cat"], two, 6)  # cat on day 6
    n = iter(range(100))

    def deploy(user, environment, kind, status, days):
        Deployment.objects.create(environment=environment, kind=kind, tag="t", requested_by=user, status=status,
                                  idempotency_key=f"k{next(n)}", finished_at=T0 + timedelta(days=days))  # fmt: skip

    deploy(people["ann"], staging, "deploy", "healthy", 4)
    deploy(people["ann"], staging, "deploy", "healthy", 9)  # not the first
    deploy(people["ben"], staging, "deploy", "failed", 1)  # failed: not a milestone
    deploy(people["ben"], staging, "deploy", "healthy", 8)
    deploy(people["ann"], production, "promote", "healthy", 10)
    deploy(people["cat"], production, "rollback", "healthy", 7)  # a rollback is not a promotion
    # Quizzes: ann fails then passes (first try: fail), ben passes at once; stuck: ben twice, cat once.
    for user, passed, minutes in (
        (people["ann"], False, 0),
        (people["ann"], True, 5),
        (people["ben"], True, 0),
    ):
        QuizAttempt.objects.create(user=user, lesson=one, passed=passed, score=4, total=5,
                                   created_at=T0 + timedelta(minutes=minutes))  # fmt: skip
    for user in (people["ben"], people["ben"], people["cat"]):
        StuckFlag.objects.create(user=user, lesson=two)
    return {"team": team, "one": one, "two": two, "lead": lead, "outsider": outsider, **people}


def _spreads(group) -> dict:
    return {s.label: (s.reached, s.of, s.median, s.low, s.high) for s in group.spreads}


def test_time_to_onboard_per_team_has_the_known_medians_and_spreads(history):
    (team,) = insights_page(teams=[history["team"]]).teams
    assert team.people == 3  # dan never signed in: not counted, not a zero
    assert _spreads(team) == {
        "First lesson completed": (3, 3, 2.0, 1.5, 3.5),
        "Phase “Basics” completed": (2, 3, 4.5, 3.8, 5.2),  # 3.75 and 5.25, to one decimal
        "First healthy staging deploy": (2, 3, 6.0, 5.0, 7.0),
        "First production promotion": (1, 3, 10.0, 10.0, 10.0),
    }


def test_cohorts_are_by_month_of_account_creation(history):
    cohorts = insights_page(teams=[history["team"]]).cohorts
    # lea (the lead) joined today and never signed in; dan in October: each cohort counts who signed in.
    by_name = {c.name: c for c in cohorts}
    assert by_name["2026-09"].people == 3 and by_name["2026-10"].people == 0


def test_per_lesson_first_try_pass_rate_and_stuck_people_not_clicks(history):
    rows = {row.lesson.slug: row for row in insights_page(teams=[history["team"]]).lessons}
    assert (rows["one"].completions, rows["one"].first_tries, rows["one"].first_try_rate) == (3, 2, 50)
    assert rows["two"].stuck_people == 2 and rows["two"].first_try_rate is None


def test_leads_see_their_teams_sres_all_members_nobody(history, sre, client):
    url = reverse("insights:lessons-working")
    client.force_login(history["lead"])
    body = client.get(url).content.decode()
    assert "Payments" in body and "Ledger" not in body and "<svg" in body
    client.force_login(history["outsider"])
    body = client.get(url).content.decode()
    assert "Ledger" in body and "Payments" not in body
    client.force_login(sre)
    body = client.get(url).content.decode()
    assert "Payments" in body and "Ledger" in body
    client.force_login(history["ann"])
    assert client.get(url).status_code == 403


def test_the_questions_most_often_missed_are_counted_per_attempt_as_the_quiz_judged_them(history):
    from tests.factories import ChoiceFactory, QuestionFactory

    q1 = QuestionFactory(lesson=history["one"], text="Which probe?")
    q2 = QuestionFactory(lesson=history["one"], text="Which port?")
    right1, wrong1 = ChoiceFactory(question=q1, correct=True), ChoiceFactory(question=q1)
    right2 = ChoiceFactory(question=q2, correct=True)
    ChoiceFactory(question=q2)  # a wrong choice nobody picks
    extra = ChoiceFactory(question=q2, correct=True)  # q2 needs both right choices
    for user, answers in (
        (history["cat"], {str(q1.pk): [wrong1.pk], str(q2.pk): [right2.pk, extra.pk]}),  # misses q1
        (history["cat"], {str(q1.pk): [right1.pk, wrong1.pk], str(q2.pk): [right2.pk]}),  # misses both
        (history["dan"], {str(q1.pk): [right1.pk], str(q2.pk): [right2.pk, extra.pk]}),  # right
    ):
        QuizAttempt.objects.create(user=user, lesson=history["one"], passed=False, score=0, total=2,
                                   answers=answers)  # fmt: skip
    rows = {row.lesson.slug: row for row in insights_page(teams=[history["team"]]).lessons}
    assert rows["one"].most_missed == [("Which probe?", 2), ("Which port?", 1)]

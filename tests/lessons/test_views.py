import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.lessons.models import Lesson, Progress, QuizAttempt, StuckFlag
from tests.factories import (
    LessonFactory,
    MembershipFactory,
    PhaseFactory,
    QuizAttemptFactory,
    TeamFactory,
    UserFactory,
    quiz_lesson,
    right_answers,
)

pytestmark = pytest.mark.django_db


def lesson_url(lesson, suffix=""):
    return reverse(f"lessons:{suffix or 'lesson'}", args=[lesson.phase.slug, lesson.slug])


def test_every_learning_page_requires_login(client):
    lesson = LessonFactory()
    for url in [
        "/learn/", f"/learn/{lesson.phase.slug}/", lesson_url(lesson), "/learn/progress/",
        "/learn/search/?q=pods", "/learn/teams/", "/admin/",
    ]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response["Location"], url


def test_the_index_shows_phases_with_progress(client_for):
    user = UserFactory()
    lesson = LessonFactory()
    LessonFactory(phase=lesson.phase)
    Progress.objects.create(user=user, lesson=lesson, status="completed")
    response = client_for(user).get("/learn/")
    html = response.content.decode()
    assert lesson.phase.title in html
    assert "1 of 2 lessons completed" in html


def test_a_lesson_page_renders_and_records_the_start(client_for):
    user, lesson = UserFactory(), quiz_lesson()
    response = client_for(user).get(lesson_url(lesson))
    assert response.status_code == 200
    html = response.content.decode()
    assert lesson.title in html and "Check your understanding" in html
    assert Progress.objects.get(user=user, lesson=lesson).status == "in_progress"


def test_drafts_are_404_for_learners_and_previewable_by_sres(client_for, sre):
    draft = LessonFactory(status=Lesson.Status.DRAFT)
    assert client_for(UserFactory()).get(lesson_url(draft)).status_code == 404
    response = client_for(sre).get(lesson_url(draft))
    assert response.status_code == 200 and "Preview" in response.content.decode()
    assert not Progress.objects.filter(lesson=draft).exists()


def test_the_quiz_answers_with_a_fragment_for_htmx(client_for):
    user, lesson = UserFactory(), quiz_lesson()
    answers = right_answers(lesson)
    data = {f"q{q}": [str(c) for c in choices] for q, choices in answers.items()}
    response = client_for(user).post(lesson_url(lesson, "quiz"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="quiz"')
    assert "<html" not in html
    assert "Passed: 3 of 3 right" in html and "Lesson completed" in html
    assert 'id="completion"' in html and 'hx-swap-oob="true"' in html
    assert Progress.objects.get(user=user, lesson=lesson).status == "completed"


def test_the_quiz_works_without_javascript(client_for):
    user, lesson = UserFactory(), quiz_lesson()
    question = lesson.questions.first()
    wrong = question.choices.filter(correct=False).first()
    response = client_for(user).post(lesson_url(lesson, "quiz"), {f"q{question.id}": [str(wrong.id)]})
    html = response.content.decode()
    assert "<html" in html and "0 of 3 right; 3 needed" in html


@pytest.mark.parametrize("htmx", [False, True])
def test_an_empty_quiz_is_not_an_attempt(client_for, htmx):
    """A stray click on the button: no failure for leads to count, no wait for the next real attempt."""
    user, lesson = UserFactory(), quiz_lesson()
    client = client_for(user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for _ in range(3):
        response = client.post(lesson_url(lesson, "quiz"), {}, **headers)
        assert response.status_code == 400
        assert "not an attempt" in response.content.decode()
    assert not QuizAttempt.objects.exists()
    answers = right_answers(lesson)
    data = {f"q{q}": [str(c) for c in choices] for q, choices in answers.items()}
    assert "Lesson completed" in client.post(lesson_url(lesson, "quiz"), data).content.decode()


@pytest.mark.parametrize("garbage", ["abc", "-1", "9" * 40, "²", "1.0"])
def test_the_quiz_refuses_garbage_without_counting_an_attempt(client_for, garbage):
    user, lesson = UserFactory(), quiz_lesson()
    question = lesson.questions.first()
    response = client_for(user).post(lesson_url(lesson, "quiz"), {f"q{question.id}": [garbage]})
    assert response.status_code == 400
    assert "do not fit this quiz" in response.content.decode()
    assert not QuizAttempt.objects.exists()


def test_the_quiz_refuses_a_choice_of_another_question(client_for):
    user, lesson = UserFactory(), quiz_lesson()
    first, second = lesson.questions.all()[:2]
    other = second.choices.first()
    response = client_for(user).post(lesson_url(lesson, "quiz"), {f"q{first.id}": [str(other.id)]})
    assert response.status_code == 400 and not QuizAttempt.objects.exists()


def test_mark_done_refuses_while_prerequisites_are_missing(client_for):
    user = UserFactory()
    first = LessonFactory()
    lesson = LessonFactory(phase=first.phase)
    lesson.prerequisites.add(first)
    client = client_for(user)
    page = client.get(lesson_url(lesson)).content.decode()
    assert "Before this one" in page and first.title in page
    response = client.post(lesson_url(lesson, "done"), follow=True)
    assert "Complete first" in response.content.decode()
    assert not Progress.objects.filter(user=user, lesson=lesson, status="completed").exists()


def test_stuck_flag_via_htmx(client_for):
    user, lesson = UserFactory(), LessonFactory()
    response = client_for(user).post(
        lesson_url(lesson, "stuck"), {"comment": "lost", "signed": "on"}, HTTP_HX_REQUEST="true"
    )
    assert "Thanks" in response.content.decode()
    flag = StuckFlag.objects.get()
    assert flag.comment == "lost" and flag.signed and flag.user == user


def test_stuck_flag_rejects_an_overlong_comment(client_for):
    user, lesson = UserFactory(), LessonFactory()
    response = client_for(user).post(lesson_url(lesson, "stuck"), {"comment": "x" * 2001}, follow=True)
    assert "at most 2000 characters" in response.content.decode()
    assert not StuckFlag.objects.exists()


def test_search_finds_lessons_by_body_with_postgres_full_text(client_for):
    from django.db import connection

    assert connection.vendor == "postgresql"
    LessonFactory(title="Graceful termination", body="Add a preStop hook that sleeps.")
    LessonFactory(title="Logs", body="LogQL queries in Loki.")
    response = client_for(UserFactory()).get("/learn/search/?q=prestop hooks")
    html = response.content.decode()
    assert "Graceful termination" in html and "Logs</a>" not in html


def _team_setup(*, others: int = 2):
    """A team: a lead, dana (who failed a quiz twice and flagged the lesson twice) and `others` more."""
    team = TeamFactory(slug="payments")
    lead = MembershipFactory(team=team, role=Membership.Role.LEAD).user
    member = MembershipFactory(team=team, user=UserFactory(username="dana")).user
    for _ in range(others):
        MembershipFactory(team=team)
    lesson = LessonFactory(title="Probes lesson")
    Progress.objects.create(user=member, lesson=lesson, status="completed")
    QuizAttemptFactory(user=member, lesson=lesson, passed=False)
    QuizAttemptFactory(user=member, lesson=lesson, passed=False)
    StuckFlag.objects.create(user=member, lesson=lesson, comment="unsigned secret words")
    StuckFlag.objects.create(user=member, lesson=lesson, comment="signed words", signed=True)
    return team, lead, member, lesson


def test_team_progress_is_refused_to_plain_members(client_for):
    _, _, member, _ = _team_setup()
    assert client_for(member).get("/learn/teams/").status_code == 403


def test_leads_see_completion_and_counts_but_no_comments(client_for):
    _, lead, _, lesson = _team_setup()
    html = client_for(lead).get("/learn/teams/").content.decode()
    assert "dana" in html and "1/1" in html
    row = re.search(r"Probes lesson</a>.*?</tr>", html, re.S).group(0)
    # Started, completed, failed the quiz, stuck: dana once in each, whatever she clicked.
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] == [1, 1, 1, 1]
    assert "secret words" not in html and "signed words" not in html


def test_where_people_get_stuck_is_sorted_by_trouble_and_hides_the_untroubled(client_for):
    team, lead, dana, probes = _team_setup()
    others = [m.user for m in team.memberships.exclude(user__in=[lead, dana])]
    quiet = LessonFactory(title="Quiet lesson", phase=probes.phase)  # started and completed by all
    unread = LessonFactory(title="Unread lesson", phase=probes.phase)  # nobody started it
    worst = LessonFactory(title="Storage lesson", phase=probes.phase)  # three people stuck
    unfinished = LessonFactory(title="Unfinished lesson", phase=probes.phase)  # started, not completed
    for person in [dana, *others]:
        Progress.objects.create(user=person, lesson=quiet, status="completed")
        Progress.objects.create(user=person, lesson=worst)
        StuckFlag.objects.create(user=person, lesson=worst)
    Progress.objects.create(user=dana, lesson=unfinished)
    html = client_for(lead).get("/learn/teams/").content.decode()
    section = html.split("Where people get stuck", 1)[1].split("</section>", 1)[0]
    listed = re.findall(r'">([^<]+ lesson)</a>', section)
    assert listed == ["Storage lesson", "Probes lesson", "Unfinished lesson"]
    assert unread.title not in section and quiet.title not in section


@pytest.mark.parametrize("others", [0, 1])
def test_a_team_too_small_for_counts_to_hide_anyone_gets_none(client_for, others):
    """With dana and at most one more person besides the lead, "1 quiz failure" would name dana."""
    _, lead, dana, probes = _team_setup(others=others)
    Progress.objects.create(user=dana, lesson=LessonFactory(title="Storage lesson", phase=probes.phase))
    html = client_for(lead).get("/learn/teams/").content.decode()
    assert "dana" in html and "1/2" in html  # who completed what stays visible
    row = re.search(r"Storage lesson</a>.*?</tr>", html, re.S).group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] == [1, 0]  # started, completed; no more
    # Her failures and flags on the lesson she completed do not even put it on the list.
    assert "Probes lesson</a>" not in html.split("Where people get stuck", 1)[1]
    assert "not counted for fewer than 3 people besides you" in html


def test_choosing_one_team_does_not_narrow_the_counts(client_for):
    """All teams minus one team would otherwise be the counts of the other team's few people."""
    team, lead, _, _ = _team_setup()
    small = TeamFactory(slug="search")
    MembershipFactory(team=small, user=lead, role=Membership.Role.LEAD)
    loner = MembershipFactory(team=small, user=UserFactory(username="eve")).user
    lesson = Lesson.objects.get(title="Probes lesson")
    QuizAttemptFactory(user=loner, lesson=lesson, passed=False)
    client = client_for(lead)
    for query in ["", "?team=payments", "?team=search"]:
        html = client.get("/learn/teams/" + query).content.decode()
        row = re.search(r"Probes lesson</a>.*?</tr>", html, re.S).group(0)
        # Failed the quiz: dana and eve; stuck: dana (twice, one person).
        assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)][-2:] == [2, 1], query


def test_sres_see_every_comment_whichever_team_is_chosen(client_for, sre):
    _setup = _team_setup()
    loner = MembershipFactory(team=TeamFactory(slug="search"), user=UserFactory(username="eve")).user
    StuckFlag.objects.create(user=loner, lesson=_setup[3], comment="eve's words")
    for query in ["?team=search", "?team=payments"]:
        html = client_for(sre).get("/learn/teams/" + query).content.decode()
        assert "eve&#x27;s words" in html and "unsigned secret words" in html, query


def test_leads_see_only_their_own_teams(client_for):
    _, lead, _, _ = _team_setup()
    other = MembershipFactory(team=TeamFactory(slug="search"), user=UserFactory(username="zoltan"))
    html = client_for(lead).get("/learn/teams/").content.decode()
    assert other.user.username not in html


def test_sres_read_comments_signed_only_when_the_reader_chose(client_for, sre):
    _, _, member, _ = _team_setup()
    html = client_for(sre).get("/learn/teams/").content.decode()
    assert "unsigned secret words" in html and "signed words" in html
    assert html.count(f"{member.username} on") == 1  # the signed one only
    assert "anonymous on" in html


def test_reserved_words_cannot_be_phase_slugs():
    from django.core.exceptions import ValidationError

    from tests.factories import PhaseFactory

    for slug in ["progress", "search", "teams"]:
        with pytest.raises(ValidationError):
            PhaseFactory.build(slug=slug).full_clean()


def test_mermaid_is_loaded_only_on_lessons_with_a_diagram(client_for):
    user = UserFactory()
    plain = LessonFactory(body="No diagram here.")
    diagram = LessonFactory(body="```mermaid\ngraph TD; A-->B\n```")
    client = client_for(user)
    assert "mermaid.min.js" not in client.get(lesson_url(plain)).content.decode()
    html = client.get(lesson_url(diagram)).content.decode()
    assert "vendor/mermaid/mermaid.min.js" in html and "http" not in html.split("mermaid.min.js")[0][-80:]


# The quiz gate against a script (issue 11) -----------------------------------------------


def _gating_quiz(flux_phase):
    """A quiz on a lesson of the phase production requires: 4 questions, 2 choices, the second right."""
    from tests.factories import ChoiceFactory, QuestionFactory

    lesson = flux_phase[1][0]
    for n in range(4):
        question = QuestionFactory(lesson=lesson, order=n)
        ChoiceFactory(question=question, order=0, correct=False, explain="No: that is the liveness probe.")
        ChoiceFactory(question=question, order=1, correct=True, explain="Yes: it leaves the endpoints.")
    return lesson


def brute_force(client, lesson, *, posts: int) -> int:
    """The attack: post answers, read whatever the page gives away, adjust, post again at once.

    Reads per-question verdicts when the page shows them, else searches question by
    question on the score. Returns the number of posts that completed the lesson, or 0.
    """
    page = client.get(lesson_url(lesson)).content.decode()
    options: dict[str, list[str]] = {}
    for question, choice in re.findall(r'name="q(\d+)" value="(\d+)"', page):
        options.setdefault(question, []).append(choice)
    for choices in options.values():
        choices.sort(key=int)  # ids, whatever order the page shows them in
    order = list(options)
    pick = dict.fromkeys(order, 0)
    best, trying = -1, 0

    def advance(question: str, step: int = 1) -> None:
        pick[question] = (pick[question] + step) % len(options[question])

    for n in range(1, posts + 1):
        response = client.post(lesson_url(lesson, "quiz"), {f"q{q}": options[q][i] for q, i in pick.items()})
        html = response.content.decode()
        if "Lesson completed" in html:
            return n
        verdicts = re.findall(r'<fieldset class="question (right|wrong)">', html)
        score = re.search(r"(\d+) of \d+ right", html)
        if verdicts:
            for question, verdict in zip(order, verdicts, strict=True):
                if verdict == "wrong":
                    advance(question)
        elif score and trying < len(order):
            score = int(score.group(1))
            if best < 0:
                best = score  # the baseline
            elif score > best:
                best, trying = score, trying + 1  # the new choice is right: keep it
            elif score < best:
                advance(order[trying], -1)  # the old choice was right: put it back
                trying += 1
            if trying < len(order):
                advance(order[trying])
        # A 429 (wait): post again at once, as a script does.
    return 0


def test_a_scripted_brute_force_does_not_complete_a_gating_lesson_in_a_burst(
    client_for, envs, people, flux_phase
):
    from apps.environments import gates

    lesson = _gating_quiz(flux_phase)
    developer = people["member"]
    client = client_for(developer)
    assert brute_force(client, lesson, posts=60) == 0
    assert not Progress.objects.filter(user=developer, lesson=lesson, status="completed").exists()
    # Two attempts went through; every later post met the wait and recorded nothing.
    assert QuizAttempt.objects.filter(user=developer, lesson=lesson).count() == 2
    assert not gates.phases_gate(developer, envs["production"]).ok


def test_without_the_wait_the_same_script_would_complete_it(client_for, people, flux_phase, monkeypatch):
    """The control: the score alone gives the answers away, so the wait is what makes the script pointless."""
    from apps.lessons import selectors

    monkeypatch.setattr(selectors, "quiz_wait", lambda failures: timedelta(0))
    lesson = _gating_quiz(flux_phase)
    assert 0 < brute_force(client_for(people["member"]), lesson, posts=60) <= 5


def test_the_wait_passes_and_a_learner_who_took_the_time_gets_through(client_for, envs, people, flux_phase):
    from datetime import timedelta

    lesson = _gating_quiz(flux_phase)
    developer = people["member"]
    client = client_for(developer)
    wrong = {f"q{q.id}": str(q.choices.order_by("id").first().id) for q in lesson.questions.all()}
    for _ in range(2):
        client.post(lesson_url(lesson, "quiz"), wrong)
    refused = client.post(lesson_url(lesson, "quiz"), wrong, HTTP_HX_REQUEST="true")
    assert refused.status_code == 429
    body = refused.content.decode()
    assert "You can check your answers again in" in body and "Your answers are kept" in body
    assert body.count("checked") == 4  # what they chose is still ticked
    # Half a minute later (the attempts are moved back rather than the test sleeping):
    QuizAttempt.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    right = {f"q{q.id}": str(q.choices.get(correct=True).id) for q in lesson.questions.all()}
    response = client.post(lesson_url(lesson, "quiz"), right)
    assert response.status_code == 200 and "Lesson completed" in response.content.decode()


def test_a_failed_attempt_shows_the_score_but_not_which_answers_were_wrong(client_for):
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    wrong = {f"q{q.id}": str(q.choices.get(order=2).id) for q in lesson.questions.all()}
    html = client_for(user).post(lesson_url(lesson, "quiz"), wrong).content.decode()
    assert "0 of 3 right; 3 needed" in html and "once you pass, or after 3 tries" in html
    assert "not quite" not in html and "Not this one." not in html  # no verdicts, no explanations


def test_which_answers_were_wrong_shows_after_three_failures(client_for):
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    wrong = {f"q{q.id}": str(q.choices.get(order=2).id) for q in lesson.questions.all()}
    for _ in range(2):
        services_quiz(user, lesson, wrong)
    QuizAttempt.objects.update(created_at=timezone.now() - timedelta(hours=2))  # out of the wait's window
    html = client_for(user).post(lesson_url(lesson, "quiz"), wrong).content.decode()
    assert "✗ not quite" in html and "Not this one." in html


def test_a_pass_shows_the_explanations(client_for):
    user, lesson = UserFactory(), quiz_lesson(questions=3)
    data = {f"q{q}": [str(c) for c in choices] for q, choices in right_answers(lesson).items()}
    html = client_for(user).post(lesson_url(lesson, "quiz"), data).content.decode()
    assert "✓ right" in html and "Right, because." in html


def test_choices_are_shuffled_per_attempt_and_stay_put_on_reload(client_for):
    user, lesson = UserFactory(), quiz_lesson(questions=5)
    client = client_for(user)

    def order():
        return re.findall(r'value="(\d+)"', client.get(lesson_url(lesson)).content.decode())

    first = order()
    assert order() == first  # a reload keeps the order
    QuizAttemptFactory(user=user, lesson=lesson)
    second = order()
    assert sorted(second) == sorted(first) and second != first
    # Another learner sees another order.
    assert (
        re.findall(r'value="(\d+)"', client_for(UserFactory()).get(lesson_url(lesson)).content.decode())
        != first
    )


def services_quiz(user, lesson, data):
    from apps.lessons import services

    answers = {int(k[1:]): {int(v)} for k, v in data.items()}
    return services.quiz_submit(user=user, lesson=lesson, answers=answers)


def test_a_quiz_with_a_retired_question_reads_the_current_questions_only(client_for):
    from apps.lessons.models import Question

    user, lesson = UserFactory(), quiz_lesson(questions=3)
    retired = lesson.questions.first()
    Question.all_objects.filter(pk=retired.pk).update(retired_at=timezone.now())
    data = {f"q{q}": [str(c) for c in choices] for q, choices in right_answers(lesson).items()}
    response = client_for(user).post(lesson_url(lesson, "quiz"), data)
    assert response.status_code == 200 and "Passed: 2 of 2 right" in response.content.decode()


def test_an_early_pass_is_kept_and_the_page_says_so(client_for):
    user = UserFactory()
    first = LessonFactory(title="Containers")
    lesson = quiz_lesson(phase=first.phase)
    lesson.prerequisites.add(first)
    client = client_for(user)
    answers = right_answers(lesson)
    data = {f"q{q}": [str(c) for c in choices] for q, choices in answers.items()}
    html = client.post(lesson_url(lesson, "quiz"), data).content.decode()
    assert "Your pass is kept: the lesson completes by itself once you complete Containers." in html
    assert (
        "You passed the quiz. The lesson completes by itself"
        in client.get(lesson_url(lesson)).content.decode()
    )
    client.post(lesson_url(first, "done"))
    assert "✓ Completed" in client.get(lesson_url(lesson)).content.decode()


def test_search_ranks_title_over_summary_over_body_with_plain_marked_snippets(client_for):
    # Curriculum order is the reverse of relevance: the body-only lesson comes first in it.
    body_only = LessonFactory(
        phase=PhaseFactory(order=1), title="Rollouts", summary="How a Deployment replaces pods.",
        body="## Old pods\n\nEach old pod runs its **preStop** hook, then `SIGTERM`. " + "A preStop hook waits. " * 8
        + "\n\nSee [the docs](https://kubernetes.io/) and *more*.\n",
    )  # fmt: skip
    in_summary = LessonFactory(
        phase=PhaseFactory(order=2), title="Draining nodes", summary="Drains run every preStop hook."
    )
    in_title = LessonFactory(
        phase=PhaseFactory(order=3), title="The preStop hook", summary="Wait before stopping."
    )
    html = client_for(UserFactory()).get("/learn/search/?q=prestop").content.decode()
    order = [
        html.index(f'href="/learn/{lesson.phase.slug}/{lesson.slug}/"')
        for lesson in (in_title, in_summary, body_only)
    ]
    assert order == sorted(order), "title, then summary, then body"
    results = html[html.index('<ol class="results">') :]
    assert "**" not in results and "`" not in results and "](" not in results and "## " not in results
    assert "<mark>preStop</mark>" in results  # the match, marked (in the title and the snippet)


def test_search_snippets_are_escaped_around_the_marks(client_for):
    LessonFactory(
        title="Hostile", body="```html\n<script>alert('x')</script>\n```\n\nThat script is scripted.\n"
    )
    html = client_for(UserFactory()).get("/learn/search/?q=scripted").content.decode()
    results = html[html.index('<ol class="results">') : html.index("</ol>")]
    assert "<mark>scripted</mark>" in results
    assert "<script" not in results  # lesson text is text: escaped, whatever it holds

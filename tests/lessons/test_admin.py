import pytest
import reversion
from django.urls import reverse

from apps.lessons.models import Lesson
from tests.factories import LessonFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_preview_renders_and_sanitises(client_for, sre):
    response = client_for(sre).post(
        reverse("admin:lessons_lesson_preview"),
        {"body": "## Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert '<h2 id="title">Title</h2>' in html
    assert "<script" not in html and "javascript:" not in html


def test_the_preview_is_for_staff_only(client_for):
    response = client_for(UserFactory()).post(reverse("admin:lessons_lesson_preview"), {"body": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_saving_in_the_admin_renders_and_records_who(client_for, sre):
    lesson = LessonFactory(status=Lesson.Status.DRAFT)
    url = reverse("admin:lessons_lesson_change", args=[lesson.pk])
    client = client_for(sre)
    form = client.get(url).context["adminform"].form
    data = {
        name: (value if value is not None else "")
        for name, value in form.initial.items()
        if name not in {"prerequisites"}
    }
    data.update(
        {
            "phase": lesson.phase_id, "body": "**New** body", "status": "review",
            "related_reasons": "[]", "related_rules": "[]", "owner": sre.pk,
            "publish_at_0": "", "publish_at_1": "", "last_reviewed": "",
            "questions-TOTAL_FORMS": "0", "questions-INITIAL_FORMS": "0",
            "checklist-TOTAL_FORMS": "0", "checklist-INITIAL_FORMS": "0",
        }
    )  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    lesson.refresh_from_db()
    assert lesson.status == "review" and lesson.body_html == "<p><strong>New</strong> body</p>"
    from reversion.models import Version

    assert Version.objects.get_for_object(lesson).first().revision.user == sre


def _change_form_data(client, url, lesson, sre, **changes) -> dict:
    form = client.get(url).context["adminform"].form
    data = {
        name: (value if value is not None else "")
        for name, value in form.initial.items()
        if name != "prerequisites"
    }
    data.update(
        {
            "phase": lesson.phase_id, "status": "review", "related_reasons": "[]", "related_rules": "[]",
            "sections": "{}", "owner": sre.pk, "publish_at_0": "", "publish_at_1": "", "last_reviewed": "",
            "questions-TOTAL_FORMS": "0", "questions-INITIAL_FORMS": "0",
            "checklist-TOTAL_FORMS": "0", "checklist-INITIAL_FORMS": "0", **changes,
        }
    )  # fmt: skip
    return data


def test_sections_must_name_a_related_reason_and_a_heading_of_the_body(client_for, sre):
    lesson = LessonFactory(status=Lesson.Status.DRAFT)
    url = reverse("admin:lessons_lesson_change", args=[lesson.pk])
    client = client_for(sre)
    body = "## When it crashes {#crash}\n\nText."
    data = _change_form_data(client, url, lesson, sre, body=body, related_reasons='["CrashLoopBackOff"]',
                             sections='{"CrashLoopBackOff": "crashes"}')  # fmt: skip
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with what is wrong
    errors = str(response.context["adminform"].form.errors["sections"])
    assert (
        "no heading has the id &#x27;crashes&#x27;" in errors or "no heading has the id 'crashes'" in errors
    )
    data["sections"] = '{"CrashLoopBackOff": "crash"}'
    assert client.post(url, data).status_code == 302
    lesson.refresh_from_db()
    assert lesson.sections == {"CrashLoopBackOff": "crash"}


def test_history_shows_a_diff_and_revert_restores_an_old_version(client_for, sre):
    lesson = LessonFactory(body="first body")
    with reversion.create_revision():
        lesson.save()
        reversion.set_user(sre)
    with reversion.create_revision():
        lesson.body = "second body"
        lesson.save()
        reversion.set_user(sre)
    client = client_for(sre)
    history = client.get(reverse("admin:lessons_lesson_history", args=[lesson.pk])).content.decode()
    assert "-first body" in history and "+second body" in history
    from reversion.models import Version

    old = Version.objects.get_for_object(lesson).last()
    revert_url = reverse("admin:lessons_lesson_revision", args=[lesson.pk, old.pk])
    assert client.get(revert_url).status_code == 200
    old.revision.revert()
    lesson.refresh_from_db()
    assert lesson.body == "first body"


def test_bulk_publish_action(client_for, sre):
    drafts = [LessonFactory(status="draft"), LessonFactory(status="review")]
    client = client_for(sre)
    data = {"action": "set_published", "_selected_action": [d.pk for d in drafts]}
    asked = client.post(reverse("admin:lessons_lesson_changelist"), data)
    assert asked.status_code == 200 and "Yes, publish 2 lessons" in asked.content.decode()
    assert set(Lesson.objects.values_list("status", flat=True)) == {"draft", "review"}  # not yet
    client.post(reverse("admin:lessons_lesson_changelist"), {**data, "confirmed": "yes"})
    assert set(Lesson.objects.values_list("status", flat=True)) == {"published"}


def test_learners_cannot_open_the_admin(client_for):
    response = client_for(UserFactory()).get("/admin/lessons/lesson/")
    assert response.status_code == 302


# Learner privacy through the admin (issue 11) --------------------------------------------


@pytest.fixture
def learners(db):
    """dana was stuck without signing and failed the quiz; erin was stuck too."""
    from apps.lessons.models import StuckFlag
    from tests.factories import QuizAttemptFactory

    lesson = LessonFactory(title="Probes lesson")
    dana, erin = UserFactory(username="dana"), UserFactory(username="erin")
    dana_flag = StuckFlag.objects.create(user=dana, lesson=lesson, comment="dana's unsigned words")
    StuckFlag.objects.create(user=erin, lesson=lesson, comment="erin's unsigned words")
    attempt = QuizAttemptFactory(user=dana, lesson=lesson, passed=False)
    return {"lesson": lesson, "dana": dana, "erin": erin, "flag": dana_flag, "attempt": attempt}


@pytest.mark.parametrize("query", ["user={id}", "user__id={id}", "user__id__exact={id}", "user_id={id}",
                                   "user__username=dana", "user__isnull=False", "lesson__stuck_flags__user={id}"])  # fmt: skip
def test_stuck_flags_cannot_be_filtered_by_who_wrote_them(client_for, sre, learners, query):
    url = "/admin/lessons/stuckflag/?" + query.format(id=learners["dana"].pk)
    response = client_for(sre).get(url)
    assert response.status_code == 400, query  # not a list of dana's flags
    assert "dana&#x27;s" not in response.content.decode()


def test_a_stuck_flag_page_names_nobody_who_did_not_sign_and_cannot_be_edited(client_for, sre, learners):
    flag = learners["flag"]
    client = client_for(sre)
    html = client.get(f"/admin/lessons/stuckflag/{flag.pk}/change/").content.decode()
    assert "dana&#x27;s unsigned words" in html and "anonymous" in html and ">dana<" not in html
    response = client.post(f"/admin/lessons/stuckflag/{flag.pk}/change/", {"signed": "on"})
    assert response.status_code == 403
    flag.refresh_from_db()
    assert not flag.signed
    history = client.get(f"/admin/lessons/stuckflag/{flag.pk}/history/").content.decode()
    assert "dana" not in history


def test_no_popup_or_autocomplete_lists_stuck_flags_by_their_author(client_for, sre, learners):
    client = client_for(sre)
    popup = client.get("/admin/lessons/stuckflag/?_to_field=user_id&_popup=1")
    assert popup.status_code == 400
    autocomplete = client.get(
        "/admin/autocomplete/",
        {"app_label": "lessons", "model_name": "stuckflag", "field_name": "user", "term": "d"},
    )
    if autocomplete.status_code == 200:
        # SREs may look people up (issue 13): the answer is everyone whose name matches, the same as
        # through a membership's user field, whoever flagged anything.
        people = client.get(
            "/admin/autocomplete/",
            {"app_label": "accounts", "model_name": "membership", "field_name": "user", "term": "d"},
        )
        assert autocomplete.json() == people.json()
    else:
        assert autocomplete.status_code in (403, 404)


def test_quiz_attempts_have_no_admin(client_for, sre, learners):
    client = client_for(sre)
    for url in ["/admin/lessons/quizattempt/", f"/admin/lessons/quizattempt/{learners['attempt'].pk}/change/",
                f"/admin/lessons/quizattempt/{learners['attempt'].pk}/history/"]:  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert "Quiz attempts" not in client.get("/admin/lessons/").content.decode()


def test_deleting_a_lesson_does_not_list_who_failed_its_quiz(client_for, sre, learners):
    html = client_for(sre).get(f"/admin/lessons/lesson/{learners['lesson'].pk}/delete/").content.decode()
    assert "a quiz attempt on Probes lesson" in html
    assert "dana failed" not in html and "failed Probes lesson" not in html


def test_progress_is_read_only_in_the_admin(client_for, sre, learners):
    from apps.lessons.models import Progress

    progress = Progress.objects.create(user=learners["dana"], lesson=learners["lesson"])
    client = client_for(sre)
    assert client.get("/admin/lessons/progress/").status_code == 200
    url = f"/admin/lessons/progress/{progress.pk}/change/"
    assert client.post(url, {"status": "completed", "user": progress.user_id, "lesson": progress.lesson_id,
                             "started_at_0": "2026-01-01", "started_at_1": "00:00:00"}).status_code == 403  # fmt: skip
    progress.refresh_from_db()
    assert progress.status == "in_progress"
    assert client.get("/admin/lessons/progress/add/").status_code == 403


@pytest.mark.parametrize(
    ("state", "expected"), [("lacks-ja", {"lacks"}), ("stale-ja", {"stale"}), ("current-ja", {"current"})]
)
def test_the_lesson_list_filters_lessons_by_their_japanese_translation(client_for, sre, state, expected):
    from apps.lessons.models import LessonTranslation

    lessons = {name: LessonFactory(title=f"Lesson {name}") for name in ("lacks", "stale", "current")}
    LessonTranslation.objects.create(lesson=lessons["stale"], language="ja", title="古い", stale=True)
    LessonTranslation.objects.create(lesson=lessons["current"], language="ja", title="新しい")
    response = client_for(sre).get(reverse("admin:lessons_lesson_changelist"), {"translation": state})
    shown = {lesson.title.removeprefix("Lesson ") for lesson in response.context["cl"].result_list}
    assert shown == expected
    html = response.content.decode()
    assert {"lacks": "ja: missing", "stale": "ja: stale", "current": "ja: ✓"}[next(iter(expected))] in html

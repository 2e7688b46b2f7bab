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
    client_for(sre).post(
        reverse("admin:lessons_lesson_changelist"),
        {"action": "set_published", "_selected_action": [d.pk for d in drafts]},
    )
    assert set(Lesson.objects.values_list("status", flat=True)) == {"published"}


def test_learners_cannot_open_the_admin(client_for):
    response = client_for(UserFactory()).get("/admin/lessons/lesson/")
    assert response.status_code == 302

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.lessons.models import Lesson, Progress, QuizAttempt, StuckFlag
from tests.factories import PhaseFactory, UserFactory, quiz_lesson

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_developer_reads_a_lesson_fails_then_passes_its_quiz(live_server, page, login):
    phase = PhaseFactory(title="Kubernetes basics", slug="kubernetes")
    lesson = quiz_lesson(
        questions=3, phase=phase, title="Probes that tell the truth", slug="probes",
        body="## Readiness\n\n!!! tip \"Remember\"\n    Readiness removes the pod from endpoints.\n\n"
        "```yaml\nreadinessProbe:\n  httpGet: {path: /ready, port: 8080}\n```\n",
    )  # fmt: skip
    alice = UserFactory(username="alice")
    login(page, alice)

    expect(page.get_by_text("0 of 1 lessons completed")).to_be_visible()
    page.get_by_role("link", name="Kubernetes basics").click()
    page.get_by_role("link", name="Probes that tell the truth").click()
    expect(page.get_by_role("heading", name="Probes that tell the truth")).to_be_visible()
    expect(page.locator(".admonition.tip")).to_contain_text("Readiness removes the pod")
    expect(page.locator(".highlight")).to_contain_text("readinessProbe")

    questions = list(lesson.questions.prefetch_related("choices"))
    # Wrong answers first: pick a wrong choice everywhere.
    for question in questions:
        wrong = [c for c in question.choices.all() if not c.correct][0]
        page.locator(f"input[name='q{question.id}'][value='{wrong.id}']").check()
    page.get_by_role("button", name="Check answers").click()
    # The score, but not which answers were wrong: the explanations would tell.
    expect(page.locator("#quiz .message.error")).to_contain_text("0 of 3 right; 3 needed")
    expect(page.locator("#quiz .message.error")).to_contain_text("Re-read the lesson")
    expect(page.locator("#quiz .explain")).to_have_count(0)
    assert not Progress.objects.filter(user=alice, lesson=lesson, status="completed").exists()
    # A second miss: the next attempt waits, and the page says so (a 429 fragment, swapped in).
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#quiz .message.error")).to_contain_text("You can check again in")
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#quiz .message.error")).to_contain_text("You can check your answers again in")
    QuizAttempt.objects.update(created_at=timezone.now() - timedelta(minutes=1))  # the wait, passed

    for question in questions:
        right = [c for c in question.choices.all() if c.correct][0]
        page.locator(f"input[name='q{question.id}'][value='{right.id}']").check()
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#quiz .message.success")).to_contain_text("Lesson completed")
    expect(page.locator("#quiz .explain.right").first).to_be_visible()  # after a pass, every explanation
    expect(page.locator("#completion")).to_contain_text("Completed")  # swapped out of band

    page.get_by_role("textbox", name="Comment").fill("The port numbers confused me")
    page.get_by_role("button", name="I'm stuck here").click()
    expect(page.locator("#stuck")).to_contain_text("Thanks")
    flag = StuckFlag.objects.get(user=alice, lesson=lesson)
    assert flag.comment == "The port numbers confused me" and not flag.signed

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Learn").click()
    expect(page.get_by_text("1 of 1 lessons completed")).to_be_visible()
    page.get_by_role("link", name="My progress").click()
    expect(page.locator("tr.status-completed")).to_contain_text("Probes that tell the truth")


def test_an_sre_edits_previews_and_publishes_a_draft_that_a_developer_then_sees(
    live_server, page, login, browser
):
    from apps.accounts.services import user_make_sre

    phase = PhaseFactory(title="Shipping with Flux", slug="flux")
    draft = quiz_lesson(
        questions=3, phase=phase, title="Suspend with care", slug="suspend",
        status=Lesson.Status.DRAFT, body="Old body.",
    )  # fmt: skip
    sre = user_make_sre(user=UserFactory(username="sre"))
    login(page, sre)
    page.goto(f"{live_server.url}/admin/lessons/lesson/{draft.pk}/change/")
    body = page.locator("#id_body")
    body.fill('## Why suspend\n\n!!! warning "Resume it"\n    Forgetting to resume freezes deploys.\n')
    preview = page.locator("#lesson-preview")
    expect(preview.locator("h2")).to_have_text("Why suspend")
    expect(preview.locator(".admonition.warning")).to_contain_text("Forgetting to resume")
    page.locator("#id_status").select_option("published")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    draft.refresh_from_db()
    assert draft.status == Lesson.Status.PUBLISHED and "Why suspend" in draft.body_html

    page.goto(f"{live_server.url}/admin/lessons/lesson/{draft.pk}/history/")
    expect(page.locator("#change-history")).to_contain_text("sre")
    page.locator("#change-history summary").first.click()
    expect(page.locator(".shirube-diff").first).to_contain_text("+## Why suspend")

    dev_context = browser.new_context()
    dev_page = dev_context.new_page()
    login(dev_page, UserFactory(username="dev"))
    dev_page.goto(f"{live_server.url}/learn/flux/")
    dev_page.get_by_role("link", name="Suspend with care").click()
    expect(dev_page.locator(".prose h2")).to_have_text("Why suspend")
    expect(dev_page).to_have_url(re.compile(r"/learn/flux/suspend/$"))
    dev_context.close()


def test_mermaid_diagrams_are_drawn_in_strict_mode(live_server, page, login):
    lesson = quiz_lesson(
        questions=3,
        phase=PhaseFactory(slug="orientation"),
        slug="platform-map",
        body='```mermaid\ngraph LR\n  A["Git"] --> B["Flux"]\n  click A "javascript:alert(1)"\n```\n',
    )
    login(page, UserFactory(username="reader"))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/learn/orientation/{lesson.slug}/")
    diagram = page.locator("pre.mermaid svg")
    expect(diagram).to_be_visible()
    expect(diagram).to_contain_text("Flux")
    page.locator("pre.mermaid svg").get_by_text("Git").click()
    assert dialogs == []
    assert page.evaluate("typeof window.mermaid") == "object"

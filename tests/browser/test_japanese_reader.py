"""A reader in Japanese opens a shipped lesson, takes its quiz in Japanese and passes (issue 21).

The interface follows the account's language as well; then the header switch goes back to English.
"""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

from apps.accounts.models import LanguagePreference
from apps.lessons.models import Lesson, Progress, QuizAttempt
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_japanese_reader_reads_a_lesson_and_passes_its_quiz_in_japanese(live_server, page, login):
    call_command("load_content", str(settings.SHIRUBE_CONTENT_DIR), stdout=StringIO())
    lesson = Lesson.objects.get(slug="why-eks")
    translation = lesson.translations.get(language="ja")
    hanako = UserFactory(username="hanako")
    LanguagePreference.objects.create(user=hanako, language="ja")
    login(page, hanako)

    page.goto(f"{live_server.url}/learn/{lesson.phase.slug}/{lesson.slug}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(translation.title)
    expect(page.locator("article.lesson")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", name="これまでの経緯")).to_be_visible()

    # The switch on the page: English, then back.
    # The interface is in Japanese too (the account's choice), and <html lang> says so.
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("link", name="自分の進捗")).to_be_visible()
    switch = page.get_by_role("navigation", name="このレッスンの言語")
    switch.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(lesson.title)
    page.get_by_role("navigation", name="このレッスンの言語").get_by_role("link", name="日本語").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(translation.title)

    questions = list(lesson.questions.prefetch_related("choices"))
    for question in questions:
        # The question is shown in Japanese, and its choices are the lesson's one set of rows.
        expect(
            page.locator("#quiz legend").filter(has_text=translation.quiz[question.key]["text"])
        ).to_have_count(1)
        for choice in question.choices.all():
            box = page.locator(f"input[name='q{question.id}'][value='{choice.id}']")
            expect(box.locator("xpath=..")).to_contain_text(translation.quiz[choice.key]["text"])
            if choice.correct:
                box.check()
    page.get_by_role("button", name="答え合わせ").click()
    expect(page.locator("#quiz .message.success")).to_contain_text("レッスンを修了しました")
    # After the htmx swap the quiz is still in Japanese, explanations too.
    first_right = next(c for c in questions[0].choices.all() if c.correct)
    expect(page.locator("#quiz .explain.right").first).to_be_visible()
    expect(page.locator("#quiz")).to_contain_text(translation.quiz[first_right.key]["explain"])
    expect(page.locator("#completion")).to_contain_text("修了")

    assert QuizAttempt.objects.get(user=hanako, lesson=lesson).passed
    assert Progress.objects.get(user=hanako, lesson=lesson).status == Progress.Status.COMPLETED

    # The header's switch: back to English, remembered on the account.
    page.get_by_role("form", name="言語").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(lesson.title)
    assert LanguagePreference.objects.get(user=hanako).language == "en"

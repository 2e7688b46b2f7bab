"""The lesson page and its quiz in the reader's language, English where there is no translation."""

import pytest
from django.urls import reverse

from apps.accounts.models import LanguagePreference
from apps.lessons.models import LessonTranslation, Progress, QuizAttempt
from apps.lessons.rendering import render_markdown
from tests.factories import ChecklistItemFactory, LessonFactory, UserFactory, quiz_lesson

pytestmark = pytest.mark.django_db

JA_BODY = "## 節\n\nPod と `kubectl` の本文です。\n"


def lesson_url(lesson, suffix=""):
    return reverse(f"lessons:{suffix or 'lesson'}", args=[lesson.phase.slug, lesson.slug])


def translated(lesson=None, *, stale=False, **kwargs):
    """A quiz lesson with stable ids and its Japanese translation, as an import writes them."""
    lesson = lesson or quiz_lesson(questions=3, **kwargs)
    quiz = {}
    for q_number, question in enumerate(lesson.questions.all()):
        question.key = f"q-{q_number}"
        question.save()
        quiz[question.key] = {"text": f"質問 {q_number}"}
        for c_number, choice in enumerate(question.choices.all()):
            choice.key = f"c-{q_number}-{c_number}"
            choice.save()
            quiz[choice.key] = {
                "text": f"選択肢 {q_number}-{c_number}",
                "explain": f"解説 {q_number}-{c_number}",
            }
    item = ChecklistItemFactory(lesson=lesson, text="I ran kubectl")
    LessonTranslation.objects.create(
        lesson=lesson, language="ja", title="日本語のレッスン", summary="日本語の要約。", body=JA_BODY,
        body_html=render_markdown(JA_BODY, source_headings=[("2", "section")]),
        checklist=["kubectl を実行した"], quiz=quiz, stale=stale,
    )  # fmt: skip
    return lesson, item


def reader(language=""):
    user = UserFactory()
    if language:
        LanguagePreference.objects.create(user=user, language=language)
    return user


def test_a_reader_who_chose_japanese_reads_the_lesson_and_quiz_in_japanese(client_for):
    lesson, _ = translated()
    html = client_for(reader("ja")).get(lesson_url(lesson)).content.decode()
    assert '<article class="lesson" lang="ja">' in html
    assert "<h1>日本語のレッスン</h1>" in html and "日本語の要約。" in html
    assert '<h2 id="section">節</h2>' in html  # the English section's id, so lesson#section lands
    assert "質問 0" in html and "選択肢 2-1" in html and "kubectl を実行した" in html
    assert lesson.title not in html.split("<title>")[1].split("</title>")[0]
    # The quiz sends the English rows' ids: one quiz, whatever the language.
    for choice in lesson.questions.first().choices.all():
        assert f'value="{choice.id}"' in html
    assert "translation-note" not in html


@pytest.mark.parametrize(
    ("header", "chosen", "shown"),
    [
        ("ja,en;q=0.8", "", "ja"),
        ("ja-JP", "", "ja"),
        ("fr, en;q=0.9, ja;q=0.5", "", "en"),
        ("de", "", "en"),
        ("ja", "en", "en"),  # the account's choice comes first
        ("en", "ja", "ja"),
    ],
)
def test_without_a_choice_the_browser_language_decides(client_for, header, chosen, shown):
    lesson, _ = translated()
    html = client_for(reader(chosen)).get(lesson_url(lesson), HTTP_ACCEPT_LANGUAGE=header).content.decode()
    assert f'<article class="lesson" lang="{shown}">' in html
    assert ("日本語のレッスン" in html) == (shown == "ja")


def test_a_lesson_without_a_translation_is_shown_in_english_with_a_note(client_for):
    lesson = LessonFactory(title="Only English")
    html = client_for(reader("ja")).get(lesson_url(lesson)).content.decode()
    assert '<article class="lesson" lang="en">' in html and "<h1>Only English</h1>" in html
    assert "まだ日本語版がありません" in html


def test_a_stale_translation_says_so_and_links_the_english(client_for):
    lesson, _ = translated(stale=True)
    html = client_for(reader("ja")).get(lesson_url(lesson)).content.decode()
    assert "日本語のレッスン" in html
    assert "英語版のレッスンが最後に更新される前" in html and 'href="?lang=en"' in html


def test_the_switch_on_the_page_shows_the_other_language(client_for):
    lesson, _ = translated()
    client = client_for(reader("ja"))
    html = client.get(lesson_url(lesson), {"lang": "en"}).content.decode()
    assert f"<h1>{lesson.title}</h1>" in html and '<article class="lesson" lang="en">' in html
    assert 'href="?lang=ja"' in html and 'href="?lang=en"' in html
    assert client.get(lesson_url(lesson), {"lang": "xx"}).status_code == 400


def test_a_quiz_passed_in_japanese_completes_the_one_lesson(client_for):
    lesson, _ = translated()
    user = reader()
    client = client_for(user)
    answers = {f"q{q.id}": [str(c.id) for c in q.choices.all() if c.correct] for q in lesson.questions.all()}
    response = client.post(lesson_url(lesson, "quiz"), {**answers, "lang": "ja"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "Passed: 3 of 3" in html
    assert "解説 0-0" in html and "選択肢 0-0" in html  # the explanations, in Japanese
    assert QuizAttempt.objects.get(user=user, lesson=lesson).passed
    # Progress is the lesson's, not the language's: the English page shows it done.
    assert Progress.objects.get(user=user, lesson=lesson).status == Progress.Status.COMPLETED
    assert "✓ Completed" in client.get(lesson_url(lesson), {"lang": "en"}).content.decode()


def test_a_bad_language_in_a_quiz_post_is_refused_before_the_attempt_counts(client_for):
    lesson, _ = translated()
    user = reader()
    response = client_for(user).post(lesson_url(lesson, "quiz"), {"lang": "xx"})
    assert response.status_code == 400
    assert not QuizAttempt.objects.filter(user=user).exists()


def test_a_checklist_tick_without_javascript_returns_to_the_language_it_was_read_in(client_for):
    lesson, item = translated()
    response = client_for(reader()).post(
        reverse("lessons:checklist", args=[lesson.phase.slug, lesson.slug, item.id]),
        {"done": "on", "lang": "ja"},
    )
    assert response.status_code == 302 and response["Location"].endswith("?lang=ja")


def test_the_next_lesson_is_named_in_the_reader_language(client_for):
    lesson, _ = translated()
    following = LessonFactory(phase=lesson.phase, order=lesson.order + 1, title="Next in English")
    LessonTranslation.objects.create(lesson=following, language="ja", title="次のレッスン")
    html = client_for(reader("ja")).get(lesson_url(lesson)).content.decode()
    assert "次のレッスン →" in html


def test_the_glossary_is_linked_from_the_index_and_shown_in_the_reader_language(client_for, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from tests.lessons.test_content import PHASE, write_tree
    from tests.lessons.test_content_translations import sha

    glossary = "---\ntitle: Glossary\n---\n## Reconcile\n\nMake it so.\n"
    glossary_ja = (
        f'---\nsource_sha256: "{sha(glossary)}"\ntitle: 用語集\n---\n## リコンサイル\n\n一致させる。\n'
    )
    root = write_tree(
        tmp_path / "content",
        {"01-basics/_phase.md": PHASE, "_glossary.md": glossary, "_glossary.ja.md": glossary_ja},
    )
    call_command("load_content", str(root), stdout=StringIO())
    client = client_for(reader("ja"))
    assert reverse("lessons:glossary") in client.get(reverse("lessons:index")).content.decode()
    html = client.get(reverse("lessons:glossary")).content.decode()
    assert '<article class="lesson" lang="ja">' in html and '<h2 id="reconcile">リコンサイル</h2>' in html
    html = client.get(reverse("lessons:glossary"), {"lang": "en"}).content.decode()
    assert "<h1>Glossary</h1>" in html and 'href="?lang=ja"' in html


def test_no_glossary_imported_is_a_404(client_for):
    assert client_for(reader()).get(reverse("lessons:glossary")).status_code == 404


def test_the_index_phase_and_progress_pages_name_phases_and_lessons_in_the_reader_language(client_for):
    from apps.lessons.models import PhaseTranslation

    lesson, _ = translated()
    PhaseTranslation.objects.create(
        phase=lesson.phase,
        language="ja",
        title="基本のフェーズ",
        summary="基本です。",
        intro_html="<p>紹介。</p>",
    )
    client = client_for(reader("ja"))
    assert "基本のフェーズ" in client.get(reverse("lessons:index")).content.decode()
    html = client.get(reverse("lessons:phase", args=[lesson.phase.slug])).content.decode()
    assert "基本のフェーズ" in html and "<p>紹介。</p>" in html and "日本語のレッスン</a>" in html
    assert "日本語の要約。" in html
    assert "日本語のレッスン</a>" in client.get(reverse("lessons:progress")).content.decode()
    # An English reader sees the English.
    html = client_for(reader("en")).get(reverse("lessons:phase", args=[lesson.phase.slug])).content.decode()
    assert "基本のフェーズ" not in html and f"{lesson.title}</a>" in html


def test_messages_from_the_lesson_views_come_in_the_reader_language(client_for):
    lesson = LessonFactory(title="No quiz")
    client = client_for(reader("ja"))
    html = client.post(lesson_url(lesson, "done"), follow=True).content.decode()
    assert "「No quiz」を修了しました。" in html
    quiz = quiz_lesson(questions=1)
    response = client.post(lesson_url(quiz, "quiz"), {f"q{quiz.questions.get().id}": "999999"})
    assert response.status_code == 400 and "ページを再読み込みして" in response.content.decode()

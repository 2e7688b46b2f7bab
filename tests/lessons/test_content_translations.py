"""Translations in content/ (`<slug>.ja.md`, `_phase.ja.md`, `_glossary*.md`): import, errors, staleness."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.lessons.content import content_files_read
from apps.lessons.models import TRANSLATION_LANGUAGES, Lesson, LessonTranslation, Page, PhaseTranslation
from tests.lessons.test_content import PHASE, lesson_text, run, run_failing, write_tree

pytestmark = pytest.mark.django_db

BODY = "## Why pods\n\nBody about pods.\n\n### A detail\n\nMore.\n"
JA_BODY = "## なぜ Pod か\n\nPod の本文です。\n\n### 細かい点\n\nさらに。\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ja_text(english: str, *, quiz: str | None = None, extra: str = "", digest: str | None = None) -> str:
    if quiz is None:
        quiz = (
            "quiz:\n"  # line 7
            "  - id: q-which\n"  # line 8
            "    question: どれが正しいですか？\n"
            "    choices:\n"
            "      - id: c-this\n"  # line 11
            "        text: これ\n"
            "        explain: はい。\n"
            "      - id: c-that\n"  # line 14
            "        text: あれ\n"
            "        explain: いいえ。\n"
        )
    return (
        "---\n"
        f'source_sha256: "{digest or sha(english)}"\n'
        "title: Pod\n"
        "summary: 短く。\n"
        "checklist:\n  - kubectl get pods を実行した\n"
        f"{quiz}{extra}"
        "---\n"
        f"{JA_BODY}"
    )


def tree(tmp_path, ja: str | None = None, english: str | None = None, **more):
    english = english or lesson_text("Pods", body=BODY)
    files = {"01-basics/_phase.md": PHASE, "01-basics/01-pods.md": english, **more}
    if ja is not None:
        files["01-basics/01-pods.ja.md"] = ja
    return write_tree(tmp_path / "content", files)


def test_a_translation_supplies_the_text_of_the_same_lesson_by_id(tmp_path):
    english = lesson_text("Pods", body=BODY)
    run(tree(tmp_path, ja_text(english)))
    lesson = Lesson.objects.get(slug="pods")
    translation = lesson.translations.get(language="ja")
    assert (translation.title, translation.summary, translation.stale) == ("Pod", "短く。", False)
    assert translation.checklist == ["kubectl get pods を実行した"]
    assert translation.quiz["q-which"] == {"text": "どれが正しいですか？"}
    assert translation.quiz["c-that"] == {"text": "あれ", "explain": "いいえ。"}
    # One lesson, one quiz: the translation adds no rows.
    assert Lesson.objects.count() == 1 and lesson.questions.get().choices.count() == 2
    # The Japanese headings carry the English ids, so lesson#section lands in both languages.
    assert 'id="why-pods"' in lesson.body_html and 'id="a-detail"' in lesson.body_html
    assert '<h2 id="why-pods">なぜ Pod か</h2>' in translation.body_html
    assert '<h3 id="a-detail">細かい点</h3>' in translation.body_html


def test_an_import_with_nothing_changed_writes_no_translation(tmp_path):
    root = tree(tmp_path, ja_text(lesson_text("Pods", body=BODY)))
    run(root)
    before = LessonTranslation.objects.get().updated_at
    out, _ = run(root)
    assert "translations" not in out
    assert LessonTranslation.objects.get().updated_at == before


QUIZ_UNKNOWN_QUESTION = (
    "quiz:\n  - id: q-which\n    question: どれ？\n    choices:\n"
    "      - id: c-this\n        text: これ\n        explain: はい。\n"
    "      - id: c-that\n        text: あれ\n        explain: いいえ。\n"
    "  - id: q-extra\n    question: 余分？\n    choices: []\n"  # line 17
)

TRANSLATION_ERRORS = {
    "a question id the English does not have": (
        QUIZ_UNKNOWN_QUESTION,
        "01-basics/01-pods.ja.md:17: quiz question 2: id 'q-extra' is not a question",
    ),
    "a choice id the English does not have": (
        "quiz:\n  - id: q-which\n    question: どれ？\n    choices:\n"
        "      - id: c-this\n        text: これ\n        explain: はい。\n"
        "      - id: c-other\n        text: あれ\n        explain: いいえ。\n",  # line 14
        "01-basics/01-pods.ja.md:14: quiz question 1, choice 2: id 'c-other' is not a choice of q-which",
    ),
    "a missing choice": (
        "quiz:\n  - id: q-which\n    question: どれ？\n    choices:\n"
        "      - id: c-this\n        text: これ\n        explain: はい。\n",
        "01-basics/01-pods.ja.md:8: quiz question 1: missing choice(s) of content/01-basics/01-pods.md: c-that",
    ),
    "a missing question": (
        "quiz: []\n",
        "01-basics/01-pods.ja.md:7: missing question(s) of content/01-basics/01-pods.md: q-which",
    ),
    "which choice is right, in a translation": (
        "quiz:\n  - id: q-which\n    question: どれ？\n    choices:\n"
        "      - id: c-this\n        text: これ\n        correct: true\n        explain: はい。\n",
        "01-basics/01-pods.ja.md:11: quiz question 1, choice 1: 'correct' belongs in",
    ),
    "a missing explanation": (
        "quiz:\n  - id: q-which\n    question: どれ？\n    choices:\n"
        "      - id: c-this\n        text: これ\n        explain: はい。\n"
        "      - id: c-that\n        text: あれ\n",
        "01-basics/01-pods.ja.md:14: quiz question 1, choice 2: c-that has 'explain'",
    ),
}


@pytest.mark.parametrize("case", TRANSLATION_ERRORS)
def test_a_translation_that_does_not_match_the_english_quiz_is_an_error_with_file_and_line(tmp_path, case):
    quiz, expected = TRANSLATION_ERRORS[case]
    err = run_failing(tree(tmp_path, ja_text(lesson_text("Pods", body=BODY), quiz=quiz)))
    assert expected in err
    assert not Lesson.objects.exists() and not LessonTranslation.objects.exists()  # nothing imported


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("minutes: 5\n", "01-basics/01-pods.ja.md:17: unknown keys in a translation: minutes"),
        ("checklist2: []\n", "unknown keys in a translation: checklist2"),
    ],
)
def test_a_translation_holds_text_only(tmp_path, extra, expected):
    assert expected in run_failing(tree(tmp_path, ja_text(lesson_text("Pods", body=BODY), extra=extra)))


def test_a_translation_without_a_hash_says_which_command_writes_it(tmp_path):
    ja = ja_text(lesson_text("Pods", body=BODY)).replace(
        f'"{sha(lesson_text("Pods", body=BODY))}"', "pending"
    )
    err = run_failing(tree(tmp_path, ja))
    assert "01-basics/01-pods.ja.md:2: source_sha256 must be" in err
    assert "content_translation_hash" in err


def test_a_checklist_of_another_length_is_an_error(tmp_path):
    ja = ja_text(lesson_text("Pods", body=BODY)).replace(
        "checklist:\n  - kubectl", "checklist:\n  - 1つ目\n  - kubectl"
    )
    assert "01-basics/01-pods.ja.md:5: checklist has 2 item(s)" in run_failing(tree(tmp_path, ja))


def test_a_translation_of_no_english_file_and_an_unknown_language_are_errors(tmp_path):
    english = lesson_text("Pods", body=BODY)
    root = tree(tmp_path, None, english, **{
        "01-basics/02-probes.ja.md": ja_text(english), "01-basics/01-pods.fr.md": english,
    })  # fmt: skip
    err = run_failing(root)
    assert "01-basics/02-probes.ja.md: a translation of 02-probes.md, which is not there" in err
    assert "01-basics/01-pods.fr.md: unknown language 'fr'" in err


def test_a_translation_goes_stale_when_its_english_file_changes(tmp_path):
    english = lesson_text("Pods", body=BODY)
    root = tree(tmp_path, ja_text(english))
    run(root)
    assert not LessonTranslation.objects.get().stale
    (root / "01-basics/01-pods.md").write_text(lesson_text("Pods", body=BODY + "\nA new paragraph.\n"))
    run(root)
    assert LessonTranslation.objects.get().stale
    # The SRE brings the translation up to date and marks it so.
    call_command("content_translation_hash", str(root / "01-basics/01-pods.ja.md"), stdout=StringIO())
    run(root)
    assert not LessonTranslation.objects.get().stale


def test_a_removed_translation_file_removes_the_translation(tmp_path):
    root = tree(tmp_path, ja_text(lesson_text("Pods", body=BODY)))
    run(root)
    (root / "01-basics/01-pods.ja.md").unlink()
    run(root)
    assert not LessonTranslation.objects.exists()


def test_phases_and_the_glossary_are_translated_too(tmp_path):
    glossary = "---\ntitle: Glossary\n---\n## Reconcile\n\nTo make it so.\n"
    phase_ja = f'---\nsource_sha256: "{sha(PHASE)}"\ntitle: 基本\nsummary: 基本です。\n---\n紹介。\n'
    glossary_ja = (
        f'---\nsource_sha256: "{sha(glossary)}"\ntitle: 用語集\n---\n## リコンサイル\n\n一致させること。\n'
    )
    root = tree(tmp_path, None, **{
        "01-basics/_phase.ja.md": phase_ja, "_glossary.md": glossary, "_glossary.ja.md": glossary_ja,
    })  # fmt: skip
    run(root)
    phase = PhaseTranslation.objects.get()
    assert (phase.title, phase.stale, phase.intro_html) == ("基本", False, "<p>紹介。</p>")
    pages = {page.language: page for page in Page.objects.filter(slug="glossary")}
    assert pages["en"].title == "Glossary" and pages["ja"].title == "用語集"
    assert '<h2 id="reconcile">リコンサイル</h2>' in pages["ja"].body_html


def test_a_markdown_file_at_the_top_other_than_a_page_is_still_an_error(tmp_path):
    err = run_failing(tree(tmp_path, None, **{"_notes.md": "---\ntitle: x\n---\n"}))
    assert "_notes.md: lessons belong in a phase folder" in err


def test_every_shipped_lesson_phase_and_page_has_a_current_japanese_translation():
    shipped = content_files_read(settings.SHIRUBE_CONTENT_DIR)
    specs = [*shipped.pages, *shipped.phases, *shipped.lessons]
    assert len(shipped.lessons) >= 28 and shipped.pages
    for language in TRANSLATION_LANGUAGES:
        lacking = [s.path for s in specs if language not in s.translations]
        stale = [s.path for s in specs if language in s.translations and s.translations[language].stale]
        assert lacking == [], f"no {language} translation: {lacking}"
        assert stale == [], f"{language} translation older than its English file: {stale}"


def test_shipped_translations_keep_every_heading_id_of_their_english():
    from apps.lessons.rendering import heading_anchors

    run(settings.SHIRUBE_CONTENT_DIR)
    for lesson in Lesson.objects.prefetch_related("translations"):
        for translation in lesson.translations.all():
            assert heading_anchors(translation.body_html) == heading_anchors(lesson.body_html), translation

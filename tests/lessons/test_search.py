"""Search finds Japanese (one, two and many characters) and English; title over summary over body."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from apps.accounts.models import LanguagePreference
from apps.lessons.models import LessonTranslation
from apps.lessons.rendering import html_to_text, render_markdown
from apps.lessons.search import lesson_search, search_terms, snippet
from tests.factories import LessonFactory, UserFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def japanese(lesson, *, title, summary="", body=""):
    return LessonTranslation.objects.create(
        lesson=lesson, language="ja", title=title, summary=summary, body=body, body_html=render_markdown(body)
    )


@pytest.fixture
def curriculum():
    grace = LessonFactory(title="Graceful termination", body="Add a preStop hook that sleeps.\n")
    japanese(
        grace,
        title="Pod を安全に止める",
        summary="preStop と終了の猶予期間。",
        body="## 猶予期間\n\n`terminationGracePeriodSeconds` は **猶予期間** です。鍵は順番です。\n",
    )
    logs = LessonFactory(title="Logs in Loki", summary="LogQL for the impatient.", body="Queries.\n")
    japanese(logs, title="Loki でログを探す", body="ログの検索には LogQL を使います。\n")
    drain = LessonFactory(title="Cluster upgrades", body="Nodes drain one at a time.\n")
    japanese(drain, title="猶予期間とクラスターのアップグレード", body="ノードを 1 台ずつドレインします。\n")
    return {"grace": grace, "logs": logs, "drain": drain}


def titles(results):
    return [r.lesson.title for r in results]


def test_a_two_character_japanese_term_is_found_and_the_title_ranks_first(curriculum):
    results = lesson_search(query="猶予", user=UserFactory(), language="ja")
    # In the title of "drain", in the summary and body of "grace": the title counts more.
    assert titles(results) == ["Cluster upgrades", "Graceful termination"]
    assert [r.title for r in results] == ["猶予期間とクラスターのアップグレード", "Pod を安全に止める"]


def test_a_one_character_japanese_term_is_found(curriculum):
    assert titles(lesson_search(query="鍵", user=UserFactory(), language="ja")) == ["Graceful termination"]


def test_a_long_japanese_term_and_several_terms_must_all_match(curriculum):
    user = UserFactory()
    assert titles(lesson_search(query="ドレインします", user=user, language="ja")) == ["Cluster upgrades"]
    assert titles(lesson_search(query="猶予期間　順番", user=user, language="ja")) == ["Graceful termination"]
    assert lesson_search(query="猶予期間 LogQL", user=user, language="ja") == []


def test_english_queries_still_work_for_every_reader(curriculum):
    user = UserFactory()
    for language in ("en", "ja"):
        # English stemming on PostgreSQL ("hooks" finds "hook") and substrings ("LogQ").
        assert (
            titles(lesson_search(query="prestop hooks", user=user, language=language))[0]
            == "Graceful termination"
        )
        assert titles(lesson_search(query="LogQ", user=user, language=language)) == ["Logs in Loki"]
    # An English reader is not shown a Japanese match they cannot read as a title.
    assert titles(lesson_search(query="猶予", user=user, language="en")) == []


def test_summary_ranks_over_body():
    LessonFactory(title="A", body="About rollouts.\n")
    LessonFactory(title="B", summary="Rollouts, step by step.")
    assert titles(lesson_search(query="rollouts", user=UserFactory())) == ["B", "A"]


def test_snippets_are_plain_text_with_the_terms_marked(curriculum):
    (result,) = lesson_search(query="鍵", user=UserFactory(), language="ja")
    text = "".join(piece for piece, _ in result.snippet)
    assert "**" not in text and "`" not in text and "<" not in text
    assert ("鍵", True) in result.snippet and result.snippet_language == "ja"


def test_the_snippet_helpers():
    assert search_terms("  ＬｏｇＱＬ　猶予  猶予 ") == ["LogQL", "猶予"]
    assert html_to_text("<p>a &amp; <code>b</code></p>\n<ul><li>c</li></ul>") == "a & b c"
    pieces = snippet("x" * 100 + "the preStop hook", ["prestop"])
    assert pieces[0] == ("…", False) and ("preStop", True) in pieces


def test_the_search_page_uses_the_reader_language_and_marks_terms(client_for, curriculum):
    user = UserFactory()
    LanguagePreference.objects.create(user=user, language="ja")
    html = client_for(user).get(reverse("lessons:search"), {"q": "猶予"}).content.decode()
    assert "<mark>猶予</mark>期間とクラスターのアップグレード</a>" in html  # the title, its match marked
    assert "<mark>猶予</mark>" in html


def test_long_terms_can_use_the_trigram_index():
    assert connection.vendor == "postgresql"
    from apps.lessons.models import Lesson

    query = Lesson.objects.filter(body_text__icontains="猶予期間").order_by().values("id")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A handful of rows would be scanned; forbid the plans that ignore the index to see it can be used.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lesson_body_text_upper_trgm" in plan, plan


SQLITE_SCRIPT = """
from apps.lessons.models import LessonTranslation
from apps.lessons.search import lesson_search
from tests.factories import LessonFactory, UserFactory
lesson = LessonFactory(title="Graceful termination", body="A preStop hook.")
LessonTranslation.objects.create(lesson=lesson, language="ja", title="安全に止める", body="猶予期間です。", body_html="<p>猶予期間です。</p>")
LessonFactory(title="Other", body="Nothing.")
user = UserFactory()
print([r.title for r in lesson_search(query="猶予", user=user, language="ja")])
print([r.title for r in lesson_search(query="prestop", user=user, language="en")])
"""


def test_sqlite_searches_the_same_way_without_an_index(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path}/search.sqlite3",
        "SHIRUBE_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    env.pop("SHIRUBE_TEST_DATABASE_URL", None)
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=REPO, check=True, capture_output=True)
    result = subprocess.run(
        [*manage, "shell", "-v0", "-c", SQLITE_SCRIPT], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['安全に止める']", "['Graceful", "termination']"], result.stdout

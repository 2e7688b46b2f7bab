"""Lesson search that finds Japanese as well as English (issue 21).

PostgreSQL's English text search does not split Japanese words (a Japanese sentence is one
"word"), and trigrams alone miss one- and two-character terms such as 猶予. So every term is
matched as a substring (`icontains`: `UPPER(col) LIKE UPPER('%term%')`) in the English
fields and in the reader's translation. On PostgreSQL, pg_trgm GIN indexes on those
expressions (migration `0004_lesson_search_trigram_indexes`) serve terms of three characters
or more; shorter ones are a scan, which over a curriculum is cheap. A trigram index is lossy
and PostgreSQL re-checks every row it returns, so results never depend on how the
database's locale classifies Japanese characters, only the speed does. English queries keep
PostgreSQL's English full-text match too, so "hooks" still finds "hook". On SQLite the same
substring match runs without an index.

Ranking: a term in the title counts more than in the summary, which counts more than in the
body (whichever language it is found in); ties keep curriculum order. Snippets are plain
text cut from the rendered lesson (no Markdown marks), with the terms marked.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Case, F, FilteredRelation, IntegerField, Q, Value, When
from django.db.models.functions import Greatest
from django.utils.html import strip_tags

from apps.lessons.models import SOURCE_LANGUAGE, Lesson, PhaseTranslation
from apps.lessons.selectors import lessons_for_user

MAX_TERMS = 8
# Points for a term found in each field: title over summary over body.
WEIGHTS = {"title": 4, "summary": 2, "body": 1}
SNIPPET_BEFORE = 50
SNIPPET_LENGTH = 160


@dataclass
class SearchResult:
    lesson: object
    title: str
    phase_title: str
    language: str  # the language the title and snippet are in
    snippet: list[tuple[str, bool]]  # plain-text pieces; True for a matched term
    snippet_language: str
    score: int


def search_terms(query: str) -> list[str]:
    """The query's terms: NFKC (full-width letters and digits become ASCII), split on any space."""
    terms = unicodedata.normalize("NFKC", query).split()
    unique = list(dict.fromkeys(term for term in terms if term))
    return unique[:MAX_TERMS]


def _field_points(term: str, field: str, weight: int, translated: bool) -> Case:
    found = Q(**{f"{field}__icontains": term})
    if translated:
        found |= Q(**{f"tr__{field}__icontains": term})
    return Case(When(found, then=Value(weight)), default=Value(0), output_field=IntegerField())


def lesson_search(
    *, query: str, user: AbstractBaseUser, language: str = SOURCE_LANGUAGE, limit: int = 30
) -> list[SearchResult]:
    """Lessons in which every term appears (in English or the reader's language), best first."""
    terms = search_terms(query)
    if not terms:
        return []
    translated = language != SOURCE_LANGUAGE
    lessons = lessons_for_user(user).select_related("phase")
    if translated:
        lessons = lessons.annotate(
            tr=FilteredRelation("translations", condition=Q(translations__language=language))
        )
        lessons = lessons.annotate(tr_title=F("tr__title"), tr_body_html=F("tr__body_html"))
    every_term = Q()
    score = Value(0, output_field=IntegerField())
    for term in terms:
        anywhere = Q()
        for field in WEIGHTS:
            anywhere |= Q(**{f"{field}__icontains": term})
            if translated:
                anywhere |= Q(**{f"tr__{field}__icontains": term})
        every_term &= anywhere
        # The best field the term is found in counts, once per term.
        score = score + Greatest(
            *(_field_points(term, field, weight, translated) for field, weight in WEIGHTS.items())
        )
    matched = every_term | _english_full_text(query)
    rows = list(
        lessons.filter(matched).annotate(score=score).order_by("-score", "phase__order", "order")[:limit]
    )
    phase_titles = _phase_titles(rows, language)
    results = []
    for lesson in rows:
        shown_in = language if translated and getattr(lesson, "tr_title", None) else SOURCE_LANGUAGE
        title = lesson.tr_title if shown_in != SOURCE_LANGUAGE else lesson.title
        # The snippet comes from the text a term is in: the translation's, else the English.
        texts = [
            (shown_in, plain_text(lesson.tr_body_html if shown_in != SOURCE_LANGUAGE else lesson.body_html))
        ]
        if shown_in != SOURCE_LANGUAGE:
            texts.append((SOURCE_LANGUAGE, plain_text(lesson.body_html)))
        snippet_language, text = next(
            ((code, text) for code, text in texts if any(term.lower() in text.lower() for term in terms)),
            texts[0],
        )
        results.append(
            SearchResult(
                lesson=lesson,
                title=title,
                phase_title=phase_titles.get(lesson.phase_id, lesson.phase.title),
                language=shown_in,
                snippet=snippet(text, terms),
                snippet_language=snippet_language,
                score=lesson.score,
            )
        )
    return results


def _english_full_text(query: str) -> Q:
    """PostgreSQL's English match (stems: "hooks" finds "hook"); nothing elsewhere."""
    if connection.vendor != "postgresql":
        return Q(pk__in=[])
    from django.contrib.postgres.search import SearchQuery, SearchVector

    vector = SearchVector("title", "summary", "body", config="english")
    ids = Lesson.objects.annotate(document=vector).filter(
        document=SearchQuery(query, search_type="websearch", config="english")
    )
    return Q(pk__in=ids.values("pk"))


def _phase_titles(rows: list, language: str) -> dict[int, str]:
    if language == SOURCE_LANGUAGE or not rows:
        return {}
    return dict(
        PhaseTranslation.objects.filter(
            language=language, phase_id__in={row.phase_id for row in rows}
        ).values_list("phase_id", "title")
    )


_SPACE_RE = re.compile(r"\s+")


def plain_text(rendered_html: str) -> str:
    """The words of rendered HTML: no tags, no Markdown marks, entities decoded, spaces collapsed."""
    return _SPACE_RE.sub(" ", html.unescape(strip_tags(rendered_html or ""))).strip()


def snippet(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """A window of text around the first term found, as (piece, is_a_term) for the template to mark."""
    lowered = text.lower()  # not casefold(), which can change lengths (ß -> ss) and so positions
    found = [at for at in (lowered.find(term.lower()) for term in terms) if at >= 0]
    start = max(0, min(found) - SNIPPET_BEFORE) if found else 0
    window = text[start : start + SNIPPET_LENGTH]
    pattern = re.compile(
        "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE
    )
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    at = 0
    for match in pattern.finditer(window):
        if match.start() > at:
            pieces.append((window[at : match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(window):
        pieces.append((window[at:], False))
    if start + SNIPPET_LENGTH < len(text):
        pieces.append(("…", False))
    return pieces

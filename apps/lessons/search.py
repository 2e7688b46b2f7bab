"""Lesson search, the one search of the portal: it finds Japanese as well as English (issue 21).

PostgreSQL's English text search does not split Japanese words (a Japanese sentence is one
"word"), and trigrams alone miss one- and two-character terms such as 猶予. So every term is
matched as a substring (`icontains`: `UPPER(col) LIKE UPPER('%term%')`) in the English
fields (the body as plain text, `Lesson.body_text`) and in the reader's translation. On
PostgreSQL, pg_trgm GIN indexes on those expressions (migration
`0007_lesson_search_trigram_indexes`) serve terms of three characters or more; shorter ones
are a scan, which over a curriculum is cheap. A trigram index is lossy and PostgreSQL
re-checks every row it returns, so results never depend on how the database's locale
classifies Japanese characters, only the speed does. English queries keep PostgreSQL's
English full-text match too, so "hooks" still finds "hook". On SQLite (the demo) the same
substring match runs without an index.

Ranking: a term in the title counts more than in the summary, which counts more than in the
body (whichever language it is found in); ties keep curriculum order. Titles and snippets
are plain text (snippets cut from the rendered lesson, no Markdown marks) as (text, is it a
match) pieces that the template escapes and marks.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Case, F, FilteredRelation, IntegerField, Q, Value, When
from django.urls import reverse

from apps.lessons.models import SOURCE_LANGUAGE, Lesson, PhaseTranslation
from apps.lessons.rendering import html_to_text
from apps.lessons.selectors import lessons_for_user

# Longer searches are refused by the view with a message, not cut.
SEARCH_MAX_LENGTH = 200
MAX_TERMS = 8
# (English field, translation field, points for a term found there): title over summary over body.
FIELDS = (("title", "title", 4), ("summary", "summary", 2), ("body_text", "body", 1))
SNIPPET_BEFORE = 50
SNIPPET_LENGTH = 160

Pieces = list[tuple[str, bool]]  # plain-text pieces; True for a matched term


@dataclass
class SearchResult:
    lesson: Lesson
    title: str
    title_marked: Pieces
    phase_title: str
    language: str  # the language the title and snippet are in
    snippet: Pieces
    snippet_language: str
    score: int

    @property
    def url(self) -> str:
        return reverse("lessons:lesson", args=[self.lesson.phase.slug, self.lesson.slug])


def search_terms(query: str) -> list[str]:
    """The query's terms: NFKC (full-width letters and digits become ASCII), split on any space."""
    terms = unicodedata.normalize("NFKC", query).split()
    unique = list(dict.fromkeys(term for term in terms if term))
    return unique[:MAX_TERMS]


def _found(term: str, english: str, translation: str, translated: bool) -> Q:
    found = Q(**{f"{english}__icontains": term})
    if translated:
        found |= Q(**{f"tr__{translation}__icontains": term})
    return found


def _term_points(term: str, translated: bool) -> Case:
    """Points for the best field the term is found in: When picks the first that matches, and
    FIELDS runs from the most points to the least (plain SQL on every database)."""
    return Case(
        *(
            When(_found(term, english, translation, translated), then=Value(weight))
            for english, translation, weight in FIELDS
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


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
        for english, translation, _weight in FIELDS:
            anywhere |= _found(term, english, translation, translated)
        every_term &= anywhere
        score = score + _term_points(term, translated)  # once per term
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
        texts = [(SOURCE_LANGUAGE, lesson.body_text)]
        if shown_in != SOURCE_LANGUAGE:
            texts.insert(0, (shown_in, html_to_text(lesson.tr_body_html)))
        snippet_language, text = next(
            ((code, text) for code, text in texts if any(term.lower() in text.lower() for term in terms)),
            texts[0],
        )
        results.append(
            SearchResult(
                lesson=lesson,
                title=title,
                title_marked=marked(title, terms),
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

    vector = SearchVector("title", "summary", "body_text", config="english")
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


def snippet(text: str, terms: list[str]) -> Pieces:
    """A window of text around the first term found, with the terms marked (`marked`)."""
    lowered = text.lower()  # not casefold(), which can change lengths (ß -> ss) and so positions
    found = [at for at in (lowered.find(term.lower()) for term in terms) if at >= 0]
    start = max(0, min(found) - SNIPPET_BEFORE) if found else 0
    pieces: Pieces = [("…", False)] if start else []
    pieces += marked(text[start : start + SNIPPET_LENGTH], terms)
    if start + SNIPPET_LENGTH < len(text):
        pieces.append(("…", False))
    return pieces


def marked(text: str, terms: list[str]) -> Pieces:
    """Text as (text, is it a match) pieces, every term matched whatever its case."""
    pattern = re.compile(
        "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE
    )
    pieces: Pieces = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces

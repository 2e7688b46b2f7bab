"""Lesson pages. Thin: parse, check permission, call a selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.languages import reader_language
from apps.accounts.models import LANGUAGES
from apps.accounts.permissions import (
    can_read_stuck_comments,
    can_see_team_progress,
    team_progress_scope,
)
from apps.core import inputs
from apps.lessons import search as lesson_search
from apps.lessons import selectors, services
from apps.lessons.forms import StuckForm, parse_quiz_answers
from apps.lessons.models import ChecklistItem
from apps.lessons.rendering import has_mermaid


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    cards = selectors.phases_overview(user=request.user)
    selectors.phases_translate(phases=[card.phase for card in cards], language=_language(request))
    return render(request, "lessons/index.html", {"cards": cards})


@require_GET
def glossary(request: HttpRequest) -> HttpResponse:
    view = selectors.page_get(slug="glossary", language=_language(request))
    languages = selectors.page_languages(slug="glossary")
    return render(request, "lessons/page.html", {"view": view, "languages": languages})


@require_GET
def phase_detail(request: HttpRequest, phase_slug: str) -> HttpResponse:
    phase = selectors.phase_get(slug=phase_slug)
    rows = selectors.phase_lessons(phase=phase, user=request.user)
    needed = [p for row in rows for p in row.missing]
    selectors.phases_translate(
        phases=[phase], lessons=[row.lesson for row in rows] + needed, language=_language(request)
    )
    done = sum(1 for row in rows if row.status == "completed")
    return render(request, "lessons/phase.html", {"phase": phase, "rows": rows, "done": done})


def _language(request: HttpRequest) -> str:
    """The language to show a lesson in: `lang` (the switch on the page, which the lesson's forms
    send back), else the reader's own (their account's choice, then Accept-Language)."""
    wanted = request.GET.get("lang") or request.POST.get("lang") or ""
    if wanted:
        return inputs.choice(wanted, field="lang", label="language", choices=LANGUAGES)
    return reader_language(request)


def _back(request: HttpRequest, phase_slug: str, lesson_slug: str) -> HttpResponse:
    """Back to the lesson after a form, in the language it was read in."""
    url = reverse("lessons:lesson", args=[phase_slug, lesson_slug])
    language = request.POST.get("lang", "")
    return redirect(f"{url}?lang={language}" if language in LANGUAGES else url)


def _page(request: HttpRequest, lesson):
    return selectors.lesson_page(lesson=lesson, user=request.user, language=_language(request))


def _lesson_context(request: HttpRequest, page, **extra) -> dict:
    return {
        "page": page,
        "lesson": page.lesson,
        "uses_mermaid": has_mermaid(page.body_html),
        "stuck_form": StuckForm(),
        "feedback_after": selectors.QUIZ_FEEDBACK_AFTER_FAILURES,
        **extra,
    }


def _quiz_response(request: HttpRequest, lesson, *, status: int = 200, **extra) -> HttpResponse:
    if request.htmx:
        page = _page(request, lesson)
        return render(
            request, "lessons/lesson.html#quiz", _lesson_context(request, page, **extra), status=status
        )
    return _lesson_response(request, lesson, status=status, **extra)


def _lesson_response(request: HttpRequest, lesson, *, status: int = 200, **extra) -> HttpResponse:
    """The whole lesson page (after a refused form too, with what was typed kept in it)."""
    page = _page(request, lesson)
    # The readiness box on it is readiness's own template tag (lesson_readiness).
    return render(request, "lessons/lesson.html", _lesson_context(request, page, **extra), status=status)


@require_GET
def lesson_detail(request: HttpRequest, phase_slug: str, lesson_slug: str) -> HttpResponse:
    lesson = selectors.lesson_get(phase_slug=phase_slug, slug=lesson_slug, user=request.user)
    _language(request)  # a bad `lang` is refused before anything is recorded
    if lesson.is_visible():
        services.progress_start(user=request.user, lesson=lesson)
    return _lesson_response(request, lesson)


def _visible_lesson(request: HttpRequest, phase_slug: str, lesson_slug: str):
    lesson = selectors.lesson_get(phase_slug=phase_slug, slug=lesson_slug, user=request.user)
    if not lesson.is_visible():
        raise PermissionDenied(_("This lesson is not published yet."))
    return lesson


@require_POST
def quiz_submit(request: HttpRequest, phase_slug: str, lesson_slug: str) -> HttpResponse:
    lesson = _visible_lesson(request, phase_slug, lesson_slug)
    _language(request)  # a bad `lang` is refused before the attempt counts
    choices = selectors.quiz_choices(lesson=lesson)
    if not choices:
        return _back(request, phase_slug, lesson_slug)
    try:
        answers = parse_quiz_answers(request.POST, choices)
        result = services.quiz_submit(user=request.user, lesson=lesson, answers=answers)
    except inputs.InvalidInput as exc:
        return _quiz_response(request, lesson, status=400, quiz_error=exc.message)
    except services.QuizTooSoon as exc:
        return _quiz_response(request, lesson, status=429, quiz_error=str(exc), kept=answers)
    kept = {question_id: r.chosen for question_id, r in result.results.items()}
    return _quiz_response(request, lesson, result=result, kept=kept)


@require_POST
def mark_done(request: HttpRequest, phase_slug: str, lesson_slug: str) -> HttpResponse:
    lesson = _visible_lesson(request, phase_slug, lesson_slug)
    try:
        services.lesson_mark_done(user=request.user, lesson=lesson)
        messages.success(request, _("“%(title)s” is complete.") % {"title": lesson.title})
    except services.PrerequisitesIncomplete as exc:
        messages.error(request, str(exc))
    except services.LessonNotCompletable as exc:
        messages.error(request, str(exc))
    if request.htmx:
        page = _page(request, lesson)
        return render(request, "lessons/lesson.html#completion", _lesson_context(request, page))
    return _back(request, phase_slug, lesson_slug)


@require_POST
def checklist_tick(request: HttpRequest, phase_slug: str, lesson_slug: str, item_id: int) -> HttpResponse:
    lesson = _visible_lesson(request, phase_slug, lesson_slug)
    item = get_object_or_404(ChecklistItem, id=item_id, lesson=lesson)
    done = inputs.choice(
        request.POST.get("done", ""), field="done", label="checkbox value", choices=["", "on"]
    )
    services.checklist_tick(user=request.user, item=item, done=done == "on")
    if request.htmx:
        page = _page(request, lesson)
        return render(request, "lessons/lesson.html#checklist", _lesson_context(request, page))
    return _back(request, phase_slug, lesson_slug)


@require_POST
def stuck(request: HttpRequest, phase_slug: str, lesson_slug: str) -> HttpResponse:
    lesson = _visible_lesson(request, phase_slug, lesson_slug)
    form = StuckForm(request.POST)
    if form.is_valid():
        services.stuck_flag_create(
            user=request.user,
            lesson=lesson,
            comment=form.cleaned_data["comment"],
            signed=form.cleaned_data["signed"],
        )
        if request.htmx:
            page = _page(request, lesson)
            return render(request, "lessons/lesson.html#stuck", _lesson_context(request, page, flagged=True))
        messages.success(request, _("Thanks: the SREs will see where this lesson loses people."))
        return _back(request, phase_slug, lesson_slug)
    # Refused: the page again, with the comment as typed and what is wrong with it.
    if request.htmx:
        page = _page(request, lesson)
        context = _lesson_context(request, page, stuck_form=form)
        return render(request, "lessons/lesson.html#stuck", context, status=400)
    return _lesson_response(request, lesson, status=400, stuck_form=form)


@require_GET
def my_progress(request: HttpRequest) -> HttpResponse:
    sections = selectors.user_progress(user=request.user)
    selectors.phases_translate(
        phases=[card.phase for card, _ in sections],
        lessons=[row.lesson for _, rows in sections for row in rows],
        language=_language(request),
    )
    return render(request, "lessons/progress.html", {"sections": sections})


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    template = "lessons/search.html#results" if request.htmx else "lessons/search.html"
    try:
        query = inputs.text(
            request.GET.get("q", ""), field="q", label="search", max_length=lesson_search.SEARCH_MAX_LENGTH
        )
    except inputs.InvalidInput as exc:
        context = {"query": request.GET.get("q", ""), "results": [], "error": exc.message}
        return render(request, template, context, status=400)
    results = lesson_search.lesson_search(query=query, user=request.user, language=reader_language(request))
    return render(request, template, {"query": query, "results": results})


@require_GET
def team_progress(request: HttpRequest) -> HttpResponse:
    if not can_see_team_progress(request.user):
        raise PermissionDenied("Team progress is for team leads and SREs.")
    scope = team_progress_scope(request.user)
    selected = inputs.choice(
        request.GET.get("team", ""), field="team", choices=["", *(t.slug for t in scope)]
    )
    teams = [t for t in scope if t.slug == selected] or scope
    data = selectors.team_progress(
        teams=teams, scope=scope, viewer=request.user, with_comments=can_read_stuck_comments(request.user)
    )
    return render(
        request,
        "lessons/teams.html",
        {
            "data": data,
            "scope": scope,
            "selected": selected,
            "min_people": selectors.PRIVATE_COUNTS_MIN_PEOPLE,
        },
    )

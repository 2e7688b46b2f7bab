"""Import a validated content tree (apps.lessons.content) into the database, in one transaction."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from apps.lessons.content import (
    ContentTree,
    ImportReport,
    LessonSpec,
    QuestionSpec,
    TranslationSpec,
    read_tree,
)
from apps.lessons.models import (
    SOURCE_LANGUAGE,
    TRANSLATION_LANGUAGES,
    ChecklistItem,
    Choice,
    Lesson,
    LessonTranslation,
    Page,
    Phase,
    PhaseTranslation,
    Question,
)
from apps.lessons.rendering import heading_anchors, render_markdown
from apps.lessons.services import (
    lesson_render,
    lesson_requirement_update,
    lessons_rerender_stale,
    phase_render,
)


def lesson_content_hash(lesson: Lesson) -> str:
    """A fingerprint of everything an author edits; tells admin edits from imports."""
    payload = {
        "phase": lesson.phase.slug,
        "title": lesson.title,
        "summary": lesson.summary,
        "minutes": lesson.minutes,
        "body": lesson.body.strip(),
        "prerequisites": sorted(lesson.prerequisites.values_list("slug", flat=True)),
        "checklist": [item.text for item in lesson.checklist.all()],
        "reasons": list(lesson.related_reasons),
        "rules": list(lesson.related_rules),
        "quiz": [
            [q.text, [[c.text, c.correct, c.explain] for c in q.choices.all()]]
            for q in lesson.questions.all()
        ],
    }
    if lesson.sections:
        # Only when set: lessons imported before sections existed keep their fingerprint, so
        # adding the field does not make every one of them look edited in the admin.
        payload["sections"] = lesson.sections
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _write_lesson(lesson: Lesson, spec: LessonSpec, phase: Phase, owners: dict) -> None:
    lesson.phase = phase
    lesson.order = spec.order
    lesson.title = spec.title
    lesson.summary = spec.summary
    lesson.minutes = spec.minutes
    lesson.body = spec.body
    lesson.related_reasons = spec.related_reasons
    lesson.related_rules = spec.related_rules
    lesson.sections = spec.sections
    lesson.source_path = spec.path
    lesson.source_hash = spec.source_hash
    lesson.status = Lesson.Status.PUBLISHED
    lesson_requirement_update(lesson=lesson)  # a new lesson in a gating phase waits out its grace
    if spec.last_reviewed:
        lesson.last_reviewed = spec.last_reviewed
    if spec.owner and spec.owner in owners:
        lesson.owner = owners[spec.owner]
    lesson_render(lesson=lesson)
    lesson.save()
    lesson.checklist.all().delete()
    ChecklistItem.objects.bulk_create(
        ChecklistItem(lesson=lesson, order=i, text=text) for i, text in enumerate(spec.checklist)
    )
    _write_quiz(lesson, spec.quiz)


def _match(rows: list, spec_key: str, spec_text: str):
    """The row with this key, else a keyless (admin-written) row with this exact text."""
    by_key = next((row for row in rows if row.key == spec_key), None)
    if by_key is not None:
        return by_key
    return next((row for row in rows if not row.key and row.text == spec_text), None)


def _write_quiz(lesson: Lesson, quiz: list[QuestionSpec]) -> None:
    """Keep question and choice rows by id: update in place, add new, retire the rest.

    Attempts store row ids, so a row the file dropped is retired, never deleted, and
    a retired id that comes back is the same question again.
    """
    now = timezone.now()
    rows = list(Question.all_objects.filter(lesson=lesson).prefetch_related(
        models.Prefetch("choices", queryset=Choice.all_objects.all(), to_attr="all_choices")
    ))  # fmt: skip
    kept: set[int] = set()
    for q_order, q_spec in enumerate(quiz):
        question = _match([r for r in rows if r.id not in kept], q_spec.key, q_spec.text)
        choices = question.all_choices if question is not None else []
        if question is None:
            question = Question(lesson=lesson)
        question.key, question.order, question.text = q_spec.key, q_order, q_spec.text
        question.retired_at = None
        question.save()
        kept.add(question.id)
        kept_choices: set[int] = set()
        for c_order, c_spec in enumerate(q_spec.choices):
            choice = _match([c for c in choices if c.id not in kept_choices], c_spec.key, c_spec.text)
            if choice is None:
                choice = Choice(question=question)
            choice.key, choice.order, choice.text = c_spec.key, c_order, c_spec.text
            choice.correct, choice.explain, choice.retired_at = c_spec.correct, c_spec.explain, None
            choice.save()
            kept_choices.add(choice.id)
        Choice.all_objects.filter(question=question, retired_at__isnull=True).exclude(
            id__in=kept_choices
        ).update(retired_at=now)
    Question.all_objects.filter(lesson=lesson, retired_at__isnull=True).exclude(id__in=kept).update(
        retired_at=now
    )


def import_tree(tree: ContentTree, *, prune: bool = False, force: bool = False) -> ImportReport:
    """Write a validated tree to the database, in the caller's transaction."""
    import reversion

    report = ImportReport(warnings=list(tree.warnings))
    phases = {p.slug: p for p in Phase.objects.all()}
    for spec in tree.phases:
        phase = phases.get(spec.slug)
        values = {"order": spec.order, "title": spec.title, "summary": spec.summary,
                  "intro": spec.intro, "source_path": spec.path}  # fmt: skip
        if phase is None:
            phase = Phase(slug=spec.slug, **values)
            report.phases_created.append(spec.slug)
        elif any(getattr(phase, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(phase, key, value)
            report.phases_updated.append(spec.slug)
        else:
            continue
        phase_render(phase=phase)
        phase.save()
        phases[spec.slug] = phase

    usernames = {s.owner for s in tree.lessons if s.owner}
    owners = {u.username: u for u in get_user_model().objects.filter(username__in=usernames)}
    for missing in sorted(usernames - set(owners)):
        report.warnings.append(f"owner '{missing}' is not a user; owner left unchanged")

    existing = {lesson.slug: lesson for lesson in Lesson.objects.select_related("phase")}
    touched: list[tuple[Lesson, LessonSpec]] = []
    for spec in tree.lessons:
        lesson = existing.get(spec.slug)
        phase = phases[spec.phase_slug]
        if lesson is None:
            with reversion.create_revision():
                reversion.set_comment(f"Imported from {spec.path}")
                lesson = Lesson(slug=spec.slug)
                _write_lesson(lesson, spec, phase, owners)
            report.created.append(spec.slug)
            touched.append((lesson, spec))
            continue
        if lesson.source_hash == spec.source_hash and lesson.status != Lesson.Status.ARCHIVED:
            report.unchanged.append(spec.slug)
            continue
        edited_in_admin = lesson_content_hash(lesson) != lesson.imported_hash
        if edited_in_admin and not force:
            report.conflicts.append(
                f"{spec.path}: '{spec.slug}' was changed in the admin since its last import; "
                "kept the admin's version (use --force to take the file's)"
            )
            continue
        with reversion.create_revision():
            reversion.set_comment(f"Imported from {spec.path}" + (" (forced)" if force else ""))
            _write_lesson(lesson, spec, phase, owners)
        report.updated.append(spec.slug)
        touched.append((lesson, spec))

    by_slug = {lesson.slug: lesson for lesson in Lesson.objects.all()}
    for lesson, spec in touched:
        lesson.prerequisites.set([by_slug[slug] for slug in spec.prerequisites])
    for lesson, _ in touched:
        lesson.imported_hash = lesson_content_hash(lesson)
        lesson.save(update_fields=["imported_hash"])

    _translations_import(tree, report, rendered={lesson.slug for lesson, _ in touched})
    _pages_import(tree, report)

    if prune:
        in_files = {s.slug for s in tree.lessons}
        gone = Lesson.objects.exclude(source_path="").exclude(slug__in=in_files)
        for lesson in gone.exclude(status=Lesson.Status.ARCHIVED):
            lesson.status = Lesson.Status.ARCHIVED
            lesson.save(update_fields=["status", "updated_at"])
            report.archived.append(lesson.slug)
    return report


def _translation_write(row, spec: TranslationSpec, values: dict, *, body_field: str, render) -> bool:
    """Bring one translation row to its file; True when something changed.

    Rendering is the slow part, so it runs only when the text (or the English it takes its
    heading ids from) changed.
    """
    values = {
        "title": spec.title, "summary": spec.summary, body_field: spec.body, "source_path": spec.path,
        "source_sha256": spec.source_sha256, "stale": spec.stale, **values,
    }  # fmt: skip
    changed = row.pk is None or any(getattr(row, key) != value for key, value in values.items())
    if not changed and not render.forced:
        return False
    for key, value in values.items():
        setattr(row, key, value)
    setattr(row, f"{body_field}_html", render(spec.body))
    row.save()
    return True


class _Render:
    """render_markdown with the English headings' ids; `forced` when the English was re-rendered."""

    def __init__(self, english_html: str, forced: bool):
        self.headings, self.forced = heading_anchors(english_html), forced

    def __call__(self, text: str) -> str:
        return render_markdown(text, source_headings=self.headings)


def _translations_import(tree: ContentTree, report: ImportReport, *, rendered: set[str]) -> None:
    """Write every translation the tree has, and remove those whose file is gone."""
    lessons = {lesson.slug: lesson for lesson in Lesson.objects.prefetch_related("translations")}
    for spec in tree.lessons:
        lesson = lessons[spec.slug]
        rows = {row.language: row for row in lesson.translations.all()}
        for language in TRANSLATION_LANGUAGES:
            translation = spec.translations.get(language)
            row = rows.get(language)
            if translation is None:
                if row is not None:
                    row.delete()
                    report.translations_changed.append(f"{spec.slug} ({language}, removed)")
                continue
            row = row or LessonTranslation(lesson=lesson, language=language)
            values = {"checklist": translation.checklist, "quiz": translation.quiz}
            render = _Render(lesson.body_html, forced=spec.slug in rendered)
            if _translation_write(row, translation, values, body_field="body", render=render):
                report.translations_changed.append(f"{spec.slug} ({language})")
    phases = {phase.slug: phase for phase in Phase.objects.prefetch_related("translations")}
    for spec in tree.phases:
        phase = phases[spec.slug]
        rows = {row.language: row for row in phase.translations.all()}
        for language in TRANSLATION_LANGUAGES:
            translation = spec.translations.get(language)
            row = rows.get(language)
            if translation is None:
                if row is not None:
                    row.delete()
                continue
            row = row or PhaseTranslation(phase=phase, language=language)
            render = _Render(phase.intro_html, forced=spec.slug in report.phases_updated)
            if _translation_write(row, translation, {}, body_field="intro", render=render):
                report.translations_changed.append(f"phase {spec.slug} ({language})")


def _pages_import(tree: ContentTree, report: ImportReport) -> None:
    """The glossary and any other page: the English row, then each translation's."""
    for spec in tree.pages:
        rows = {row.language: row for row in Page.objects.filter(slug=spec.slug)}
        english = rows.get(SOURCE_LANGUAGE) or Page(slug=spec.slug, language=SOURCE_LANGUAGE)
        values = {"title": spec.title, "summary": spec.summary, "body": spec.body, "source_path": spec.path}
        english_changed = english.pk is None or any(getattr(english, k) != v for k, v in values.items())
        if english_changed:
            for key, value in values.items():
                setattr(english, key, value)
            english.body_html = render_markdown(spec.body)
            english.save()
            report.translations_changed.append(f"page {spec.slug} ({SOURCE_LANGUAGE})")
        for language in TRANSLATION_LANGUAGES:
            translation = spec.translations.get(language)
            row = rows.get(language)
            if translation is None:
                if row is not None:
                    row.delete()
                continue
            row = row or Page(slug=spec.slug, language=language)
            render = _Render(english.body_html, forced=english_changed)
            if _translation_write(row, translation, {}, body_field="body", render=render):
                report.translations_changed.append(f"page {spec.slug} ({language})")


def load_content(root: Path, *, check: bool = False, prune: bool = False, force: bool = False):
    """Validate and import root; with check, roll everything back and only report."""
    tree = read_tree(root)
    with transaction.atomic():
        report = import_tree(tree, prune=prune, force=force)
        if check:
            transaction.set_rollback(True)
    if not check:
        # Unchanged files are skipped, so a lesson rendered by an older renderer would wait for
        # beat's hourly re-render; every start (make run, the web container) catches it up now.
        lessons_rerender_stale()
    return report

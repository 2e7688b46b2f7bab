"""The SREs' publishing desk: lessons with drafts, review, schedule, history and preview."""

from __future__ import annotations

import difflib

import reversion
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from reversion.admin import VersionAdmin
from reversion.models import Version

from apps.accounts.permissions import can_edit_lessons
from apps.lessons import services
from apps.lessons.content_import import lesson_content_hash
from apps.lessons.models import (
    TRANSLATION_LANGUAGES,
    ChecklistItem,
    Choice,
    Lesson,
    LessonTranslation,
    Phase,
    Progress,
    StuckFlag,
)
from apps.lessons.models import Question as QuizQuestion
from apps.lessons.rendering import render_markdown

reversion.register(Choice)
reversion.register(QuizQuestion, follow=["choices"])


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    list_display = ["order", "title", "slug", "lesson_count"]
    list_display_links = ["title"]
    prepopulated_fields = {"slug": ["title"]}
    search_fields = ["title", "slug"]

    @admin.display(description="lessons")
    def lesson_count(self, phase):
        return phase.lessons.count()

    def save_model(self, request, obj, form, change):
        services.phase_render(phase=obj)
        super().save_model(request, obj, form, change)


class ChecklistInline(admin.TabularInline):
    model = ChecklistItem
    extra = 0


class QuestionInline(admin.StackedInline):
    model = QuizQuestion
    extra = 0
    show_change_link = True
    fields = ["order", "key", "text", "choice_summary"]
    readonly_fields = ["choice_summary"]

    @admin.display(description="choices")
    def choice_summary(self, question):
        if not question.pk:
            return "Save the question, then add its choices from its own page."
        return format_html(
            "{}",
            " · ".join(("✓ " if c.correct else "") + c.text for c in question.choices.all())
            or "no choices yet",
        )


class ChoiceInline(admin.TabularInline):
    model = Choice
    extra = 2


@admin.register(QuizQuestion)
class QuestionAdmin(VersionAdmin):
    list_display = ["text", "key", "lesson", "order"]
    list_filter = ["lesson__phase"]
    search_fields = ["text", "lesson__title"]
    inlines = [ChoiceInline]


def _status_action(status: str, description: str, done: str):
    """An admin action that moves the selected lessons to one status, recording who."""

    @admin.action(description=description)
    def action(modeladmin, request, queryset):
        for lesson in queryset:
            services.lesson_set_status(
                lesson=lesson,
                status=status,
                by=request.user,
                publish_at=timezone.now() if status == Lesson.Status.PUBLISHED else None,
            )
        messages.success(request, f"{queryset.count()} lesson(s) {done}.")

    action.__name__ = f"set_{status}"
    return action


submit_for_review = _status_action(Lesson.Status.IN_REVIEW, "Submit for review", "submitted for review")
_publish = _status_action(Lesson.Status.PUBLISHED, "Publish now", "published")


@admin.action(description="Publish now")
def set_published(modeladmin, request, queryset):
    """Publish, after a page that says which environments' gates each lesson joins and who would lose
    which right when its grace period ends (environments' template tag renders it)."""
    if request.POST.get("confirmed") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "opts": modeladmin.model._meta,
            "lessons": queryset.select_related("phase"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "title": "Publish these lessons?",
        }
        return render(request, "admin/lessons/lesson/publish_confirm.html", context)
    return _publish(modeladmin, request, queryset)


publish_now = set_published


return_to_draft = _status_action(Lesson.Status.DRAFT, "Return to draft", "returned to draft")
archive = _status_action(Lesson.Status.ARCHIVED, "Archive (hide from learners, keep progress)", "archived")


class TranslationFilter(admin.SimpleListFilter):
    """Which lessons lack a translation, or have one older than their English file (stale)."""

    title = "translation"
    parameter_name = "translation"

    def lookups(self, request, model_admin):
        return [
            (f"{state}-{code}", f"{state} {name}")
            for code, name in TRANSLATION_LANGUAGES.items()
            for state in ("lacks", "stale", "current")
        ]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        state, _, code = self.value().partition("-")
        if code not in TRANSLATION_LANGUAGES:
            return queryset.none()
        rows = LessonTranslation.objects.filter(lesson=OuterRef("pk"), language=code)
        if state == "lacks":
            return queryset.filter(~Exists(rows))
        if state == "stale":
            return queryset.filter(Exists(rows.filter(stale=True)))
        if state == "current":
            return queryset.filter(Exists(rows.filter(stale=False)))
        return queryset.none()


@admin.register(Lesson)
class LessonAdmin(VersionAdmin):
    list_display = [
        "title",
        "phase",
        "order",
        "status",
        "publish_at",
        "owner",
        "source",
        "translations_state",
        "updated_at",
    ]
    list_filter = ["phase", "status", TranslationFilter]
    search_fields = ["title", "slug", "summary", "body"]
    list_select_related = ["phase", "owner"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["owner"]
    filter_horizontal = ["prerequisites"]
    actions = [submit_for_review, publish_now, return_to_draft, archive]
    inlines = [QuestionInline, ChecklistInline]
    change_form_template = "admin/lessons/lesson/change_form.html"
    object_history_template = "admin/lessons/lesson/object_history.html"
    readonly_fields = ["source_path", "edited_since_import"]
    fieldsets = [
        (None, {"fields": ["phase", "order", "title", "slug", "summary", "minutes"]}),
        ("Body", {"fields": ["body"]}),
        ("Publishing", {"fields": ["status", "publish_at", "owner", "last_reviewed"]}),
        ("Links", {"fields": ["prerequisites", "related_reasons", "related_rules", "sections"]}),
        ("Source", {"fields": ["source_path", "edited_since_import"], "classes": ["collapse"]}),
    ]

    @admin.display(description="source")
    def source(self, lesson):
        return "content/" if lesson.source_path else "admin"

    @admin.display(description="translations")
    def translations_state(self, lesson):
        rows = {row.language: row for row in lesson.translations.all()}
        return " · ".join(
            f"{code}: " + ("missing" if code not in rows else "stale" if rows[code].stale else "✓")
            for code in TRANSLATION_LANGUAGES
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("translations")

    @admin.display(description="changed in the admin since import", boolean=True)
    def edited_since_import(self, lesson):
        if not lesson.pk or not lesson.source_path:
            return None
        return lesson_content_hash(lesson) != lesson.imported_hash

    def has_change_permission(self, request, obj=None):
        return can_edit_lessons(request.user) or super().has_change_permission(request, obj)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        services.lesson_render(lesson=obj)
        services.lesson_requirement_update(lesson=obj)
        super().save_model(request, obj, form, change)

    def get_urls(self):
        urls = [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="lessons_lesson_preview",
            ),
        ]
        return urls + super().get_urls()

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """Render the Markdown being edited, exactly as learners will see it."""
        if request.method != "POST" or not can_edit_lessons(request.user):
            return HttpResponse(status=405 if request.method != "POST" else 403)
        html = render_markdown(request.POST.get("body", ""))
        return render(request, "admin/lessons/lesson/preview.html", {"html": html})

    def history_view(self, request, object_id, extra_context=None):
        versions = list(
            Version.objects.get_for_object_reference(Lesson, object_id).select_related(
                "revision", "revision__user"
            )
        )
        diffs = {}
        for newer, older in zip(versions, versions[1:], strict=False):
            diffs[newer.pk] = _version_diff(older, newer)
        if versions:
            diffs[versions[-1].pk] = _version_diff(None, versions[-1])
        context = {"version_diffs": diffs, "versions_with_user": versions}
        return super().history_view(request, object_id, {**context, **(extra_context or {})})


def _version_diff(older: Version | None, newer: Version) -> str:
    """A unified diff of the fields an author edits, between two versions (or from nothing)."""
    lines = []
    old, new = (older.field_dict if older else {}), newer.field_dict
    for field in ["title", "summary", "minutes", "status", "publish_at", "body"]:
        before, after = str(old.get(field, "")), str(new.get(field, ""))
        if before == after:
            continue
        lines.extend(
            difflib.unified_diff(
                before.splitlines(),
                after.splitlines(),
                f"{field} (before)",
                f"{field} (after)",
                lineterm="",
                n=2,
            )  # fmt: skip
        )
    return "\n".join(lines) or "(no change to title, summary, status or body)"


# Learner privacy (docs/decisions.md, "Respect for learners"): leads see quiz failures and stuck
# flags only as counts per lesson, SREs read stuck comments signed only where the reader chose.
# The admin must not be a way around that: no quiz attempts at all, and no way to tie a stuck
# flag to its author (a filter, a search, an ordering or a query string on `user`).


@admin.register(StuckFlag)
class StuckFlagAdmin(admin.ModelAdmin):
    list_display = ["lesson", "short_comment", "who", "created_at"]
    list_filter = ["lesson__phase"]
    sortable_by = ["lesson", "created_at"]
    readonly_fields = ["lesson", "comment", "signed", "who", "created_at"]
    fields = readonly_fields

    @admin.display(description="comment")
    def short_comment(self, flag):
        return (flag.comment or "(none)")[:80]

    @admin.display(description="by")
    def who(self, flag):
        return flag.user.get_username() if flag.signed else "anonymous"

    def lookup_allowed(self, lookup, value, request=None):
        # ?user=3 or ?user__id=3 would list one person's flags: an unsigned comment, named.
        if any(part in ("user", "user_id") for part in lookup.split("__")):
            return False
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # what a reader wrote, and whether they signed it, is theirs


@admin.register(Progress)
class ProgressAdmin(admin.ModelAdmin):
    """Who started and completed what (leads see this too). Read-only: progress is the learner's
    own doing, and completing a lesson by hand would open the learning gate of environments."""

    list_display = ["user", "lesson", "status", "started_at", "completed_at"]
    list_filter = ["status", "lesson__phase"]
    search_fields = ["user__username", "lesson__title"]
    list_select_related = ["user", "lesson"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# QuizAttempt has no admin: individual attempts (and so failures) are nobody's to list.

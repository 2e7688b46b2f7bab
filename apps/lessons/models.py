from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_VALIDATOR = RegexValidator(SLUG_PATTERN, "Use lowercase letters, digits and single '-'.")
# These are URLs under /learn/, so no phase may take them.
RESERVED_PHASE_SLUGS = frozenset({"glossary", "progress", "search", "teams"})


def _not_reserved(value: str) -> None:
    from django.core.exceptions import ValidationError

    if value in RESERVED_PHASE_SLUGS:
        raise ValidationError(f"'{value}' is reserved and cannot be a phase slug.")


class Phase(models.Model):
    order = models.PositiveIntegerField(default=0)
    slug = models.SlugField(max_length=60, unique=True, validators=[SLUG_VALIDATOR, _not_reserved])
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    intro = models.TextField(blank=True, help_text="Markdown shown above the phase's lessons.")
    intro_html = models.TextField(blank=True, editable=False)
    source_path = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["order", "slug"]

    def __str__(self) -> str:
        return self.title


class LessonQuerySet(models.QuerySet):
    def visible(self, now=None):
        """Published lessons whose publish time has come."""
        now = now or timezone.now()
        return self.filter(status=Lesson.Status.PUBLISHED).filter(
            models.Q(publish_at__isnull=True) | models.Q(publish_at__lte=now)
        )


class Lesson(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "review", "In review"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    phase = models.ForeignKey(Phase, on_delete=models.PROTECT, related_name="lessons")
    order = models.PositiveIntegerField(default=0)
    slug = models.SlugField(max_length=80, unique=True, validators=[SLUG_VALIDATOR])
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    minutes = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    body = models.TextField(blank=True, help_text="Markdown.")
    body_html = models.TextField(blank=True, editable=False)
    # The body's words without Markdown or tags, rendered with body_html: what search reads.
    body_text = models.TextField(blank=True, editable=False)
    rendered_with = models.PositiveIntegerField(default=0, editable=False)
    prerequisites = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="unlocks")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    publish_at = models.DateTimeField(
        null=True, blank=True, help_text="Published lessons appear from this time (empty: now)."
    )
    # When the lesson became a requirement of an environment's learning gate (published into,
    # or moved into, a phase an environment requires); gates count it only after their grace
    # period from here, so publishing never takes anyone's rights away at once. Empty: counts
    # already (published before this existed, or into a phase nothing required then).
    gates_from = models.DateTimeField(null=True, blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_reviewed = models.DateField(null=True, blank=True)
    related_reasons = models.JSONField(default=list, blank=True)
    related_rules = models.JSONField(default=list, blank=True)
    # Reason or rule -> the id of the heading whose section explains it, so that a link from a
    # failing pod or a finding lands there rather than at the top of a 25-minute lesson.
    sections = models.JSONField(
        default=dict, blank=True,
        help_text='Where each reason or rule is explained: {"CrashLoopBackOff": "crashloopbackoff"}, '
        "the id of a heading in the body (give one with '## Title {#crashloopbackoff}').",
    )  # fmt: skip
    # Content-as-code bookkeeping: which file, and the hashes that tell an
    # unchanged file and an admin edit apart (see apps.lessons.content_import).
    source_path = models.CharField(max_length=300, blank=True, editable=False)
    source_hash = models.CharField(max_length=64, blank=True, editable=False)
    imported_hash = models.CharField(max_length=64, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LessonQuerySet.as_manager()

    class Meta:
        ordering = ["phase__order", "order", "slug"]
        indexes = [models.Index(fields=["status", "publish_at"])]

    def __str__(self) -> str:
        return self.title

    def is_visible(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.PUBLISHED and (self.publish_at is None or self.publish_at <= now)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from apps.lessons.rendering import heading_ids, render_markdown

        problems = sections_problems(
            self.sections, related=[*(self.related_reasons or []), *(self.related_rules or [])],
            headings=heading_ids(render_markdown(self.body)),
        )  # fmt: skip
        if problems:
            raise ValidationError({"sections": problems})


def sections_problems(sections, *, related: list[str], headings: list[str]) -> list[str]:
    """What is wrong with a lesson's `sections` (empty: nothing); for the importer and the admin."""
    if not isinstance(sections, dict):
        return ["sections must map each reason or rule to a heading id"]
    problems = []
    for key, anchor in sections.items():
        if key not in related:
            problems.append(f"sections: {key!r} is not one of related_reasons or related_rules")
        elif not isinstance(anchor, str) or anchor not in headings:
            shown = ", ".join(headings) or "none"
            problems.append(
                f"sections: {key}: no heading has the id {anchor!r} (the headings' ids: {shown}; "
                f"give a heading an id with '## Its title {{#{anchor}}}')"
            )
    return problems


class ChecklistItem(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="checklist")
    order = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=300)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text


# Stable quiz ids (`q-probe-order`, `c-readiness`): the content files name every
# question and choice, and an import keeps rows by that id. Quiz attempts store row
# ids, so rows are never deleted by an import: one the file no longer has is
# *retired* (retired_at set) and disappears from the quiz, while every earlier
# attempt's answers still point at the row they meant. Rows written in the admin
# may have no key; the import adopts such a row by its exact text.
QUIZ_KEY_PATTERN = r"^[qc]-[a-z0-9]+(?:-[a-z0-9]+)*$"


class CurrentManager(models.Manager):
    """The default manager: only rows the quiz still shows (not retired).

    Being the default, it also filters the related managers (`lesson.questions`,
    `question.choices`), so every reader of a quiz sees the current quiz without
    knowing about retirement. `all_objects` reaches retired rows too.
    """

    def get_queryset(self):
        return super().get_queryset().filter(retired_at__isnull=True)


class Question(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="questions")
    key = models.CharField(
        max_length=60, blank=True, help_text="Stable id from the content file, such as q-probe-order."
    )
    order = models.PositiveIntegerField(default=0)
    text = models.TextField()
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    all_objects = models.Manager()  # retired rows too
    objects = CurrentManager()

    class Meta:
        ordering = ["order", "id"]
        # Named, not implied by declaration order: related managers and the admin
        # must show the current quiz only.
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["lesson", "key"], condition=~models.Q(key=""), name="question_unique_lesson_key"
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    key = models.CharField(
        max_length=60, blank=True, help_text="Stable id from the content file, such as c-readiness."
    )
    order = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=500)
    correct = models.BooleanField(default=False)
    explain = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    all_objects = models.Manager()  # retired rows too
    objects = CurrentManager()

    class Meta:
        ordering = ["order", "id"]
        # Named, not implied by declaration order: related managers and the admin
        # must show the current quiz only.
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["question", "key"], condition=~models.Q(key=""), name="choice_unique_question_key"
            )
        ]

    def __str__(self) -> str:
        return self.text


class Progress(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lesson"], name="progress_unique_user_lesson")]
        verbose_name_plural = "progress"

    def __str__(self) -> str:
        return f"{self.user} {self.status} {self.lesson}"


class QuizAttempt(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="attempts")
    passed = models.BooleanField()
    score = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    answers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # Neither who nor how it went: this shows in lists such as the admin's "delete lesson" page.
        return f"a quiz attempt on {self.lesson}"


class ChecklistTick(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="ticks")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="tick_unique_user_item")]

    def __str__(self) -> str:
        return f"{self.user} ticked {self.item}"


STUCK_COMMENT_MAX_LENGTH = 2000


class StuckFlag(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="stuck_flags")
    comment = models.TextField(blank=True, max_length=STUCK_COMMENT_MAX_LENGTH)
    signed = models.BooleanField(
        default=False, help_text="The reader chose to show their name with the comment."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"stuck on {self.lesson}"


# Translations (issue 21). English is the source: every lesson, question and choice exists
# in English, and a translation only supplies other text for the same rows (quiz text by
# the stable ids), so progress, attempts and stuck flags stay per lesson, not per language.
# Translations come from `content/**/<slug>.<language>.md` only: the import replaces them.
SOURCE_LANGUAGE = "en"
TRANSLATION_LANGUAGES = {"ja": "日本語"}


class LessonTranslation(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=8, choices=list(TRANSLATION_LANGUAGES.items()))
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    body_html = models.TextField(blank=True, editable=False)
    checklist = models.JSONField(default=list, blank=True, help_text="Texts in the English order.")
    quiz = models.JSONField(default=dict, blank=True, help_text='Question/choice id -> {"text", "explain"}.')
    source_path = models.CharField(max_length=300, blank=True, editable=False)
    # The sha256 of the English file's bytes the translation was made from, and whether the
    # English file has changed since (set at import; file times mean nothing in a fresh clone).
    source_sha256 = models.CharField(max_length=64, blank=True)
    stale = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lesson", "language"], name="lesson_translation_unique")
        ]

    def __str__(self) -> str:
        return f"{self.lesson} ({self.language})"


class PhaseTranslation(models.Model):
    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=8, choices=list(TRANSLATION_LANGUAGES.items()))
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    intro = models.TextField(blank=True)
    intro_html = models.TextField(blank=True, editable=False)
    source_path = models.CharField(max_length=300, blank=True, editable=False)
    source_sha256 = models.CharField(max_length=64, blank=True)
    stale = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phase", "language"], name="phase_translation_unique")]

    def __str__(self) -> str:
        return f"{self.phase} ({self.language})"


class Page(models.Model):
    """A page beside the lessons (the glossary), one row per language, from `content/_<slug>*.md`."""

    slug = models.SlugField(max_length=60, validators=[SLUG_VALIDATOR])
    language = models.CharField(max_length=8)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True)
    body_html = models.TextField(blank=True, editable=False)
    source_path = models.CharField(max_length=300, blank=True, editable=False)
    source_sha256 = models.CharField(max_length=64, blank=True)
    stale = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slug", "language"], name="page_unique_slug_language")]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"

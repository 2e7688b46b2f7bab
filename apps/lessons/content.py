"""Content as code: read and validate `content/` (content_import.py writes it to the database).

The whole tree is parsed and validated first; only a tree without errors is
imported, in one transaction, so a malformed file never leaves a half-import.
See docs/content-format.md for the format.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from apps.lessons.models import (
    QUIZ_KEY_PATTERN,
    RESERVED_PHASE_SLUGS,
    TRANSLATION_LANGUAGES,
    Lesson,
    sections_problems,
)
from apps.lessons.rendering import heading_ids, render_markdown

_NAME_RE = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)$")
PHASE_KEYS = {"title", "summary"}
LESSON_KEYS = {
    "title", "summary", "minutes", "prerequisites", "checklist", "related_reasons",
    "related_rules", "sections", "quiz", "owner", "last_reviewed",
}  # fmt: skip
QUESTION_KEYS = {"id", "question", "choices"}
CHOICE_KEYS = {"id", "text", "correct", "explain"}
# A translation supplies text only; what a lesson is (prerequisites, minutes, which choice is
# right) comes from the English file, so those keys in a translation are an error.
TRANSLATION_KEYS = {"source_sha256", "title", "summary", "checklist", "quiz"}
PHASE_TRANSLATION_KEYS = {"source_sha256", "title", "summary"}
# Pages beside the lessons, at the top of content/: `_glossary.md` and its translations.
PAGE_SLUGS = ("glossary",)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
HASH_COMMAND = "python manage.py content_translation_hash"
_QUIZ_ID_RE = re.compile(QUIZ_KEY_PATTERN)


class ContentError(Exception):
    """Raised with every problem found; nothing has been imported."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ChoiceSpec:
    key: str
    text: str
    correct: bool
    explain: str


@dataclass
class QuestionSpec:
    key: str
    text: str
    choices: list[ChoiceSpec]


@dataclass
class TranslationSpec:
    """One `.<language>.md` file: the text of its English file's lesson, phase or page."""

    language: str
    path: str
    source_sha256: str  # the English file's sha256 the translation was made from
    stale: bool  # the English file has changed since
    title: str
    summary: str
    body: str
    checklist: list[str] = field(default_factory=list)
    quiz: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"text", "explain"}


@dataclass
class PhaseSpec:
    slug: str
    order: int
    title: str
    summary: str
    intro: str
    path: str
    file_sha256: str = ""
    translations: dict[str, TranslationSpec] = field(default_factory=dict)


@dataclass
class PageSpec:
    slug: str
    path: str
    title: str
    summary: str
    body: str
    file_sha256: str
    translations: dict[str, TranslationSpec] = field(default_factory=dict)


@dataclass
class LessonSpec:
    slug: str
    order: int
    phase_slug: str
    path: str
    source_hash: str
    title: str
    summary: str = ""
    minutes: int = 10
    body: str = ""
    prerequisites: list[str] = field(default_factory=list)
    checklist: list[str] = field(default_factory=list)
    related_reasons: list[str] = field(default_factory=list)
    related_rules: list[str] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    quiz: list[QuestionSpec] = field(default_factory=list)
    owner: str = ""
    last_reviewed: datetime.date | None = None
    line_of: dict = field(default_factory=dict)
    file_sha256: str = ""
    translations: dict[str, TranslationSpec] = field(default_factory=dict)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    phases_created: list[str] = field(default_factory=list)
    phases_updated: list[str] = field(default_factory=list)
    translations_changed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.updated or self.archived or self.phases_created
            or self.phases_updated or self.translations_changed
        )  # fmt: skip


# --- parsing ---------------------------------------------------------------


class _LineDict(dict):
    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings remember the line they start on."""


def _construct_mapping(loader, node, deep=False):
    mapping = _LineDict(yaml.SafeLoader.construct_mapping(loader, node, deep=deep))
    mapping.line = node.start_mark.line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter, body, line of the body's first line)."""
    if not text.startswith("---"):
        raise ValueError("1: the file must start with a '---' line and YAML front matter")
    lines = text.split("\n")
    if lines[0].strip() != "---":
        raise ValueError("1: the first line must be exactly '---'")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise ValueError("1: the front matter has no closing '---' line")


def _load_front_matter(text: str, rel: str) -> tuple[dict, str, int]:
    front, body, _ = _split_front_matter(text)
    try:
        data = yaml.load(front, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 2}" if mark is not None else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValueError(f"{line}: invalid YAML front matter: {problem}") from None
    if data is None:
        data = _LineDict()
    if not isinstance(data, dict):
        raise ValueError("2: the front matter must be a mapping of keys to values")
    return data, body.strip() + "\n", 0


def _line(mapping, default: int = 1) -> int:
    # +2: the '---' line, and YAML counts from 0.
    return getattr(mapping, "line", default - 2) + 2


def _str_list(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return [v.strip() for v in value]


def _quiz_id(mapping, where: str, prefix: str, seen: dict[str, int]) -> str:
    """The item's `id`: required, `q-…` or `c-…`, and unique within the lesson."""
    key = mapping.get("id")
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ValueError(f"{where} has no id (add one such as 'id: {prefix}-what-it-asks')")
    if not isinstance(key, str) or not _QUIZ_ID_RE.match(key) or len(key) > 60:
        raise ValueError(
            f"{where}: id {key!r} must start with '{prefix}-' and use lowercase letters, digits "
            "and single '-' (at most 60 characters)"
        )
    if not key.startswith(f"{prefix}-"):
        raise ValueError(f"{where}: id {key!r} must start with '{prefix}-'")
    if key in seen:
        raise ValueError(f"{where}: duplicate id {key!r} (also on line {seen[key]})")
    seen[key] = _line(mapping)
    return key


def _parse_quiz(raw, front_line: int) -> list[QuestionSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"{front_line}: quiz must be a list of questions")
    questions = []
    # Question and choice ids share one namespace per lesson (their prefixes differ).
    seen: dict[str, int] = {}
    for number, item in enumerate(raw, start=1):
        where = f"{_line(item, front_line)}: quiz question {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a mapping with 'id', 'question' and 'choices'")
        unknown = set(item) - QUESTION_KEYS
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        key = _quiz_id(item, where, "q", seen)
        text = item.get("question")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where} has no question text")
        raw_choices = item.get("choices")
        if not isinstance(raw_choices, list) or len(raw_choices) < 2:
            raise ValueError(f"{where} needs at least two choices")
        choices = []
        for c_number, choice in enumerate(raw_choices, start=1):
            c_where = f"{_line(choice, front_line)}: quiz question {number}, choice {c_number}"
            if not isinstance(choice, dict):
                raise ValueError(f"{c_where} must be a mapping with 'id' and 'text'")
            unknown = set(choice) - CHOICE_KEYS
            if unknown:
                raise ValueError(f"{c_where} has unknown keys: {', '.join(sorted(unknown))}")
            c_key = _quiz_id(choice, c_where, "c", seen)
            c_text = choice.get("text")
            if not isinstance(c_text, (str, int, float)) or not str(c_text).strip():
                raise ValueError(f"{c_where} has no text")
            correct = choice.get("correct", False)
            if not isinstance(correct, bool):
                raise ValueError(f"{c_where}: 'correct' must be true or false")
            explain = choice.get("explain", "")
            if not isinstance(explain, str):
                raise ValueError(f"{c_where}: 'explain' must be text")
            choices.append(ChoiceSpec(c_key, str(c_text).strip(), correct, explain.strip()))
        if not any(c.correct for c in choices):
            raise ValueError(f"{where} has no correct choice (mark one with 'correct: true')")
        questions.append(QuestionSpec(key, text.strip(), choices))
    return questions


def _titled_file(path: Path, rel: str) -> tuple[str, str, str, str]:
    """A phase intro's or a page's (title, summary, body, sha256 of the file): front matter of
    PHASE_KEYS only, a title required."""
    raw = path.read_bytes()
    data, body, _ = _load_front_matter(raw.decode("utf-8"), rel)
    unknown = set(data) - PHASE_KEYS
    if unknown:
        raise ValueError(f"2: unknown keys: {', '.join(sorted(unknown))}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("2: missing title")
    summary = data.get("summary") or ""
    if not isinstance(summary, str):
        raise ValueError("2: summary must be text")
    return title.strip(), summary.strip(), body.strip(), hashlib.sha256(raw).hexdigest()


def _parse_phase(path: Path, rel: str, slug: str, order: int) -> PhaseSpec:
    title, summary, body, digest = _titled_file(path, rel)
    return PhaseSpec(slug, order, title, summary, body, rel, digest)


def _parse_lesson(path: Path, rel: str, slug: str, order: int, phase_slug: str) -> LessonSpec:
    raw = path.read_bytes()
    data, body, _ = _load_front_matter(raw.decode("utf-8"), rel)
    front_line = 2
    unknown = set(data) - LESSON_KEYS
    if unknown:
        raise ValueError(f"{front_line}: unknown keys: {', '.join(sorted(unknown))}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"{front_line}: missing title")
    summary = data.get("summary") or ""
    if not isinstance(summary, str):
        raise ValueError(f"{front_line}: summary must be text")
    minutes = data.get("minutes", 10)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise ValueError(f"{front_line}: minutes must be a positive whole number")
    last_reviewed = data.get("last_reviewed")
    if last_reviewed is not None and not isinstance(last_reviewed, datetime.date):
        raise ValueError(f"{front_line}: last_reviewed must be a date (YYYY-MM-DD)")
    owner = data.get("owner") or ""
    if not isinstance(owner, str):
        raise ValueError(f"{front_line}: owner must be a username")
    try:
        prerequisites = _str_list(data.get("prerequisites"), "prerequisites")
        checklist = _str_list(data.get("checklist"), "checklist")
        related_reasons = _str_list(data.get("related_reasons"), "related_reasons")
        related_rules = _str_list(data.get("related_rules"), "related_rules")
    except ValueError as exc:
        raise ValueError(f"{front_line}: {exc}") from None
    for prerequisite in prerequisites:
        if not _NAME_RE.match(f"00-{prerequisite}"):
            raise ValueError(f"{front_line}: prerequisite {prerequisite!r} is not a lesson slug")
    sections = data.get("sections") or {}
    problems = sections_problems(
        sections, related=related_reasons + related_rules, headings=heading_ids(render_markdown(body))
    )
    if problems:
        raise ValueError(f"{front_line}: " + "; ".join(problems))
    quiz = _parse_quiz(data.get("quiz"), front_line)
    return LessonSpec(
        slug=slug,
        order=order,
        phase_slug=phase_slug,
        path=rel,
        source_hash=hashlib.sha256(raw + rel.encode()).hexdigest(),
        title=title.strip(),
        summary=summary.strip(),
        minutes=minutes,
        body=body,
        prerequisites=prerequisites,
        checklist=checklist,
        related_reasons=related_reasons,
        related_rules=related_rules,
        sections=dict(sections),
        quiz=quiz,
        owner=owner.strip(),
        last_reviewed=last_reviewed,
        file_sha256=hashlib.sha256(raw).hexdigest(),
    )


# --- translations ------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """What a translation's `source_sha256` must say: the sha256 of its English file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key_line(front: str, key: str) -> int:
    """The file line of a top-level front-matter key (2, the first, when it is not found)."""
    for index, line in enumerate(front.split("\n")):
        if line.startswith(f"{key}:"):
            return index + 2
    return 2


def _translated_quiz(raw, english: list[QuestionSpec], quiz_line: int, english_path: str) -> dict:
    """The quiz's text by question and choice id; every id must be the English file's, and all of them."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValueError(f"{quiz_line}: quiz must be a list of questions")
    questions = {q.key: q for q in english}
    texts: dict[str, dict[str, str]] = {}
    for number, item in enumerate(raw, start=1):
        where = f"{_line(item, quiz_line)}: quiz question {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be a mapping with 'id', 'question' and 'choices'")
        unknown = set(item) - QUESTION_KEYS
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        key = item.get("id")
        if key not in questions:
            raise ValueError(f"{where}: id {key!r} is not a question of {english_path}")
        if key in texts:
            raise ValueError(f"{where}: duplicate id {key!r}")
        text = item.get("question")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where} has no question text")
        raw_choices = item.get("choices")
        if not isinstance(raw_choices, list):
            raise ValueError(f"{where} needs its choices")
        english_choices = {c.key: c for c in questions[key].choices}
        for c_number, choice in enumerate(raw_choices, start=1):
            c_where = f"{_line(choice, quiz_line)}: quiz question {number}, choice {c_number}"
            if not isinstance(choice, dict):
                raise ValueError(f"{c_where} must be a mapping with 'id' and 'text'")
            if "correct" in choice:
                raise ValueError(f"{c_where}: 'correct' belongs in {english_path}, not in a translation")
            unknown = set(choice) - CHOICE_KEYS
            if unknown:
                raise ValueError(f"{c_where} has unknown keys: {', '.join(sorted(unknown))}")
            c_key = choice.get("id")
            if c_key not in english_choices:
                raise ValueError(f"{c_where}: id {c_key!r} is not a choice of {key} in {english_path}")
            if c_key in texts:
                raise ValueError(f"{c_where}: duplicate id {c_key!r}")
            c_text = choice.get("text")
            if not isinstance(c_text, (str, int, float)) or not str(c_text).strip():
                raise ValueError(f"{c_where} has no text")
            explain = choice.get("explain", "")
            if not isinstance(explain, str):
                raise ValueError(f"{c_where}: 'explain' must be text")
            # Without this, a reader would meet one English explanation among the translated ones.
            if bool(explain.strip()) != bool(english_choices[c_key].explain):
                has = "has" if english_choices[c_key].explain else "has no"
                raise ValueError(f"{c_where}: {c_key} {has} 'explain' in {english_path}; so must this")
            texts[c_key] = {"text": str(c_text).strip(), "explain": explain.strip()}
        missing = [c for c in english_choices if c not in texts]
        if missing:
            raise ValueError(f"{where}: missing choice(s) of {english_path}: {', '.join(missing)}")
        texts[key] = {"text": text.strip()}
    missing = [q for q in questions if q not in texts]
    if missing:
        raise ValueError(f"{quiz_line}: missing question(s) of {english_path}: {', '.join(missing)}")
    return texts


def _parse_translation(
    path: Path, rel: str, language: str, *, english_path: str, english_sha256: str,
    keys: set[str], lesson: LessonSpec | None = None,
) -> TranslationSpec:  # fmt: skip
    text = path.read_bytes().decode("utf-8")
    data, body, _ = _load_front_matter(text, rel)
    front = _split_front_matter(text)[0]
    unknown = sorted(set(data) - keys)
    if unknown:
        raise ValueError(
            f"{_key_line(front, unknown[0])}: unknown keys in a translation: {', '.join(unknown)} "
            f"(a translation has only {', '.join(sorted(keys))}; the rest comes from {english_path})"
        )
    claimed = data.get("source_sha256")
    if not isinstance(claimed, str) or not _SHA256_RE.match(claimed):
        raise ValueError(
            f"{_key_line(front, 'source_sha256')}: source_sha256 must be the sha256 of the {english_path} "
            f"it translates (64 hex digits, quoted); run {HASH_COMMAND} after updating the translation"
        )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"{_key_line(front, 'title')}: missing title")
    summary = data.get("summary") or ""
    if not isinstance(summary, str):
        raise ValueError(f"{_key_line(front, 'summary')}: summary must be text")
    spec = TranslationSpec(
        language=language, path=rel, source_sha256=claimed, stale=claimed != english_sha256,
        title=title.strip(), summary=summary.strip(), body=body.strip(),
    )  # fmt: skip
    if lesson is not None:
        line = _key_line(front, "checklist")
        try:
            spec.checklist = _str_list(data.get("checklist"), "checklist")
        except ValueError as exc:
            raise ValueError(f"{line}: {exc}") from None
        if len(spec.checklist) != len(lesson.checklist):
            raise ValueError(
                f"{line}: checklist has {len(spec.checklist)} item(s); {english_path} has "
                f"{len(lesson.checklist)} (translate each, in the same order)"
            )
        spec.quiz = _translated_quiz(data.get("quiz"), lesson.quiz, _key_line(front, "quiz"), english_path)
    return spec


def _split_language(name: str) -> tuple[str, str]:
    """`01-pods.ja.md` -> ("01-pods", "ja"); `01-pods.md` -> ("01-pods", "")."""
    base, _, language = name.removesuffix(".md").partition(".")
    return base, language


def translation_source(path: Path) -> Path:
    """The English file a translation file translates; ValueError when the name is not a translation's."""
    base, language = _split_language(path.name)
    if path.suffix != ".md" or language not in TRANSLATION_LANGUAGES:
        known = ", ".join(f"*.{code}.md" for code in sorted(TRANSLATION_LANGUAGES))
        raise ValueError(f"{path}: not a translation file ({known})")
    english = path.with_name(f"{base}.md")
    if not english.is_file():
        raise ValueError(f"{path}: its English file {english.name} is not there")
    return english


def translation_hash_write(*, path: Path) -> bool:
    """Record in a translation's front matter that it matches its English file as it is now.

    Returns whether the file changed. The hash is of the English file's bytes, so it means the
    same in any clone (file times do not).
    """
    digest = file_sha256(translation_source(path))
    text = path.read_text(encoding="utf-8")
    front, _, _ = _split_front_matter(text)
    lines = text.split("\n")
    entry = f'source_sha256: "{digest}"'
    at = _key_line(front, "source_sha256") - 1
    if lines[at].startswith("source_sha256:"):
        lines[at] = entry
    else:
        lines.insert(1, entry)
    new = "\n".join(lines)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def _parse_page(path: Path, rel: str, slug: str) -> PageSpec:
    title, summary, body, digest = _titled_file(path, rel)
    return PageSpec(slug, rel, title, summary, body, digest)


def _translations_attach(
    english, files: list[tuple[Path, str, str]], root: Path, problems: list[str], *, keys: set[str],
    lesson: LessonSpec | None = None,
) -> None:  # fmt: skip
    """Parse each translation file of one English spec into `english.translations`."""
    for path, rel, language in files:
        try:
            english.translations[language] = _parse_translation(
                path, rel, language, english_path=english.path, english_sha256=english.file_sha256,
                keys=keys, lesson=lesson,
            )  # fmt: skip
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}:{exc}" if str(exc)[:1].isdigit() else f"{rel}: {exc}")


def _translation_unknown_language(rel: str, language: str) -> str:
    known = ", ".join(sorted(TRANSLATION_LANGUAGES))
    return f"{rel}: unknown language '{language}' (translations: {known}; English is the file without one)"


@dataclass
class ContentTree:
    phases: list[PhaseSpec]
    lessons: list[LessonSpec]
    warnings: list[str]
    pages: list[PageSpec] = field(default_factory=list)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(root.name) / path.relative_to(root))
    except ValueError:
        return str(path)


def read_tree(root: Path) -> ContentTree:
    """Parse and validate every file under root; raise ContentError listing all problems."""
    tree, problems, slugs = _read_files(root)
    lessons = tree.lessons
    known = slugs | set(Lesson.objects.filter(source_path="").values_list("slug", flat=True))
    for spec in lessons:
        for prerequisite in spec.prerequisites:
            if prerequisite not in known:
                problems.append(f"{spec.path}:2: unknown prerequisite '{prerequisite}'")
            if prerequisite == spec.slug:
                problems.append(f"{spec.path}:2: a lesson cannot be its own prerequisite")
    cycle = _find_cycle({s.slug: s.prerequisites for s in lessons})
    if cycle:
        first = next(s for s in lessons if s.slug == cycle[0])
        problems.append(f"{first.path}:2: prerequisite cycle: {' -> '.join(cycle)}")
    if problems:
        raise ContentError(problems)
    return tree


def lesson_files_read(root: Path) -> list[LessonSpec]:
    """The lessons of every file under root that parses, without the database or cross-checks.

    For checks over what the files say (apps.readiness.checks: the rules they name);
    `read_tree` is what validates a tree for import.
    """
    if not root.is_dir():
        return []
    return _read_files(root)[0].lessons


def content_files_read(root: Path) -> ContentTree:
    """Every file under root, validated each on its own (no database): for tools over the files."""
    tree, problems, _ = _read_files(root)
    if problems:
        raise ContentError(problems)
    return tree


def _read_files(root: Path) -> tuple[ContentTree, list[str], set[str]]:
    """The files under root, each on its own: (what parsed, the problems, every lesson slug named)."""
    problems: list[str] = []
    warnings: list[str] = []
    phases: list[PhaseSpec] = []
    lessons: list[LessonSpec] = []
    if not root.is_dir():
        raise ContentError([f"{root}: not a folder"])

    phase_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    pages = _read_pages(root, problems)
    seen_phase: dict[str, str] = {}
    seen_lesson: dict[str, str] = {}
    for phase_dir in phase_dirs:
        rel_dir = _rel(phase_dir, root)
        match = _NAME_RE.match(phase_dir.name)
        if not match:
            problems.append(f"{rel_dir}: folder name must be NN-slug with slug [a-z0-9-]+")
            continue
        order, slug = int(match.group(1)), match.group(2)
        if slug in RESERVED_PHASE_SLUGS:
            problems.append(f"{rel_dir}: '{slug}' is reserved and cannot be a phase slug")
            continue
        if slug in seen_phase:
            problems.append(f"{rel_dir}: duplicate phase slug '{slug}' (also {seen_phase[slug]})")
            continue
        seen_phase[slug] = rel_dir
        phase_file = phase_dir / "_phase.md"
        if not phase_file.is_file():
            problems.append(f"{rel_dir}: unknown phase: the folder has no _phase.md")
            continue
        try:
            phases.append(_parse_phase(phase_file, _rel(phase_file, root), slug, order))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{_rel(phase_file, root)}:{exc}")
        in_folder: dict[str, LessonSpec] = {}  # file name without .md -> its lesson
        translated: dict[str, list[tuple[Path, str, str]]] = {}  # the same -> its translation files
        for lesson_file in sorted(phase_dir.iterdir()):
            rel = _rel(lesson_file, root)
            if lesson_file.name == "_phase.md" or lesson_file.name.startswith("."):
                continue
            if lesson_file.is_dir() or lesson_file.suffix != ".md":
                warnings.append(f"{rel}: ignored (not a .md lesson file)")
                continue
            base, language = _split_language(lesson_file.name)
            if language:
                if language not in TRANSLATION_LANGUAGES:
                    problems.append(_translation_unknown_language(rel, language))
                else:
                    translated.setdefault(base, []).append((lesson_file, rel, language))
                continue
            l_match = _NAME_RE.match(lesson_file.stem)
            if not l_match:
                problems.append(f"{rel}: file name must be NN-slug.md with slug [a-z0-9-]+")
                continue
            l_order, l_slug = int(l_match.group(1)), l_match.group(2)
            if l_slug in seen_lesson:
                problems.append(f"{rel}: duplicate lesson slug '{l_slug}' (also {seen_lesson[l_slug]})")
                continue
            seen_lesson[l_slug] = rel
            try:
                lessons.append(_parse_lesson(lesson_file, rel, l_slug, l_order, slug))
                in_folder[lesson_file.stem] = lessons[-1]
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{rel}:{exc}" if str(exc)[:1].isdigit() else f"{rel}: {exc}")
        phase_files = translated.pop("_phase", [])
        if phase_files and phases and phases[-1].slug == slug:
            _translations_attach(phases[-1], phase_files, root, problems, keys=PHASE_TRANSLATION_KEYS)
        for base, files in translated.items():
            if base in in_folder:
                _translations_attach(
                    in_folder[base], files, root, problems, keys=TRANSLATION_KEYS, lesson=in_folder[base]
                )
            elif not (phase_dir / f"{base}.md").is_file():
                problems.extend(
                    f"{rel}: a translation of {base}.md, which is not there" for _, rel, _ in files
                )
            # else: the English file has its own error, already reported.

    return ContentTree(phases, lessons, warnings, pages), problems, set(seen_lesson)


def _read_pages(root: Path, problems: list[str]) -> list[PageSpec]:
    """The pages at the top of content/ (`_glossary.md` and its translations); any other .md is an error."""
    pages: list[PageSpec] = []
    translated: dict[str, list[tuple[Path, str, str]]] = {}
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        if path.suffix != ".md" or path.name.lower() == "readme.md":
            continue
        rel = _rel(path, root)
        base, language = _split_language(path.name)
        if not (base.startswith("_") and base[1:] in PAGE_SLUGS):
            problems.append(f"{rel}: lessons belong in a phase folder (NN-phase-slug/)")
        elif language and language not in TRANSLATION_LANGUAGES:
            problems.append(_translation_unknown_language(rel, language))
        elif language:
            translated.setdefault(base[1:], []).append((path, rel, language))
        else:
            try:
                pages.append(_parse_page(path, rel, base[1:]))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{rel}:{exc}")
    by_slug = {page.slug: page for page in pages}
    for slug, files in translated.items():
        if slug in by_slug:
            _translations_attach(by_slug[slug], files, root, problems, keys=PHASE_TRANSLATION_KEYS)
        elif not (root / f"_{slug}.md").is_file():
            problems.extend(f"{rel}: a translation of _{slug}.md, which is not there" for _, rel, _ in files)
    return pages


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None

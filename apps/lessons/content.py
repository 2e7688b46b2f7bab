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
    Lesson,
)

_NAME_RE = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)$")
PHASE_KEYS = {"title", "summary"}
LESSON_KEYS = {
    "title", "summary", "minutes", "prerequisites", "checklist", "related_reasons",
    "related_rules", "quiz", "owner", "last_reviewed",
}  # fmt: skip
QUESTION_KEYS = {"id", "question", "choices"}
CHOICE_KEYS = {"id", "text", "correct", "explain"}
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
class PhaseSpec:
    slug: str
    order: int
    title: str
    summary: str
    intro: str
    path: str


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
    quiz: list[QuestionSpec] = field(default_factory=list)
    owner: str = ""
    last_reviewed: datetime.date | None = None
    line_of: dict = field(default_factory=dict)


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    phases_created: list[str] = field(default_factory=list)
    phases_updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created or self.updated or self.archived or self.phases_created
            or self.phases_updated
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


def _parse_phase(path: Path, rel: str, slug: str, order: int) -> PhaseSpec:
    data, body, _ = _load_front_matter(path.read_text(encoding="utf-8"), rel)
    unknown = set(data) - PHASE_KEYS
    if unknown:
        raise ValueError(f"2: unknown keys: {', '.join(sorted(unknown))}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("2: missing title")
    summary = data.get("summary") or ""
    if not isinstance(summary, str):
        raise ValueError("2: summary must be text")
    return PhaseSpec(slug, order, title.strip(), summary.strip(), body.strip(), rel)


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
        quiz=quiz,
        owner=owner.strip(),
        last_reviewed=last_reviewed,
    )


@dataclass
class ContentTree:
    phases: list[PhaseSpec]
    lessons: list[LessonSpec]
    warnings: list[str]


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


def _read_files(root: Path) -> tuple[ContentTree, list[str], set[str]]:
    """The files under root, each on its own: (what parsed, the problems, every lesson slug named)."""
    problems: list[str] = []
    warnings: list[str] = []
    phases: list[PhaseSpec] = []
    lessons: list[LessonSpec] = []
    if not root.is_dir():
        raise ContentError([f"{root}: not a folder"])

    phase_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for stray in sorted(p for p in root.iterdir() if p.is_file()):
        if stray.suffix == ".md" and stray.name.lower() != "readme.md":
            problems.append(f"{_rel(stray, root)}: lessons belong in a phase folder (NN-phase-slug/)")
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
        for lesson_file in sorted(phase_dir.iterdir()):
            rel = _rel(lesson_file, root)
            if lesson_file.name == "_phase.md" or lesson_file.name.startswith("."):
                continue
            if lesson_file.is_dir() or lesson_file.suffix != ".md":
                warnings.append(f"{rel}: ignored (not a .md lesson file)")
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
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(f"{rel}:{exc}" if str(exc)[:1].isdigit() else f"{rel}: {exc}")

    return ContentTree(phases, lessons, warnings), problems, set(seen_lesson)


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

"""load_content: validation names file, line and problem; imports are all-or-nothing."""

from __future__ import annotations

import textwrap
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.lessons.content import lesson_content_hash
from apps.lessons.models import Lesson, Phase, Progress
from tests.factories import LessonFactory, UserFactory

pytestmark = pytest.mark.django_db

PHASE = "---\ntitle: Basics\nsummary: The basics.\n---\nIntro text.\n"


def lesson_text(title="Pods", prerequisites=(), extra="", body="Body about pods.\n"):
    prereq = f"prerequisites: [{', '.join(prerequisites)}]\n" if prerequisites else ""
    return (
        "---\n"
        f"title: {title}\n"
        "summary: Short.\n"
        "minutes: 12\n"
        f"{prereq}"
        "checklist:\n  - I ran kubectl get pods\n"
        "quiz:\n"
        "  - question: Which is right?\n"
        "    choices:\n"
        "      - text: This\n"
        "        correct: true\n"
        "        explain: Yes.\n"
        "      - text: That\n"
        "        explain: No.\n"
        f"{extra}"
        "---\n"
        f"{body}"
    )


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def good_tree(tmp_path) -> Path:
    return write_tree(
        tmp_path / "content",
        {
            "01-basics/_phase.md": PHASE,
            "01-basics/01-pods.md": lesson_text("Pods"),
            "01-basics/02-probes.md": lesson_text("Probes", prerequisites=["pods"]),
        },
    )


def run(path, *flags):
    out, err = StringIO(), StringIO()
    call_command("load_content", str(path), *flags, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *flags) -> str:
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("load_content", str(path), *flags, stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_it_imports_phases_lessons_quizzes_and_prerequisites(tmp_path):
    out, _ = run(good_tree(tmp_path))
    assert "2 created" in out
    probes = Lesson.objects.get(slug="probes")
    assert probes.phase.slug == "basics" and probes.order == 2 and probes.minutes == 12
    assert probes.status == Lesson.Status.PUBLISHED
    assert [p.slug for p in probes.prerequisites.all()] == ["pods"]
    assert probes.questions.get().choices.filter(correct=True).count() == 1
    assert probes.checklist.get().text == "I ran kubectl get pods"
    assert "<p>Body about pods.</p>" in probes.body_html
    assert Phase.objects.get(slug="basics").intro_html == "<p>Intro text.</p>"


def test_it_is_idempotent(tmp_path):
    root = good_tree(tmp_path)
    run(root)
    before = {lesson.slug: lesson.updated_at for lesson in Lesson.objects.all()}
    out, _ = run(root)
    assert "0 created, 0 updated, 2 unchanged" in out
    assert before == {lesson.slug: lesson.updated_at for lesson in Lesson.objects.all()}


def test_check_changes_nothing(tmp_path):
    out, _ = run(good_tree(tmp_path), "--check")
    assert "check: 2 created" in out
    assert not Lesson.objects.exists() and not Phase.objects.exists()


def test_a_changed_file_updates_the_lesson(tmp_path):
    root = good_tree(tmp_path)
    run(root)
    (root / "01-basics/01-pods.md").write_text(lesson_text("Pods, again", body="New body.\n"))
    out, _ = run(root)
    assert "1 updated" in out
    pods = Lesson.objects.get(slug="pods")
    assert pods.title == "Pods, again" and "New body." in pods.body_html


def test_an_admin_edit_is_not_overwritten_without_force(tmp_path):
    root = good_tree(tmp_path)
    run(root)
    pods = Lesson.objects.get(slug="pods")
    pods.body = "Edited in the admin."
    pods.save()
    (root / "01-basics/01-pods.md").write_text(lesson_text("Pods", body="File body.\n"))
    out, err = run(root)
    assert "conflict" in err and "01-pods.md" in err and "--force" in err
    assert Lesson.objects.get(slug="pods").body == "Edited in the admin."
    out, err = run(root, "--force")
    assert "1 updated" in out
    assert Lesson.objects.get(slug="pods").body.strip() == "File body."


def test_prune_archives_and_never_deletes(tmp_path):
    root = good_tree(tmp_path)
    run(root)
    user = UserFactory()
    Progress.objects.create(user=user, lesson=Lesson.objects.get(slug="probes"))
    (root / "01-basics/02-probes.md").unlink()
    run(root)
    assert Lesson.objects.get(slug="probes").status == Lesson.Status.PUBLISHED  # no --prune
    out, _ = run(root, "--prune")
    assert "1 archived" in out
    probes = Lesson.objects.get(slug="probes")
    assert probes.status == Lesson.Status.ARCHIVED
    assert Progress.objects.filter(lesson=probes).exists()


def test_prune_leaves_admin_lessons_alone(tmp_path):
    admin_lesson = LessonFactory(slug="written-in-admin")
    run(good_tree(tmp_path), "--prune")
    admin_lesson.refresh_from_db()
    assert admin_lesson.status == Lesson.Status.PUBLISHED


MALFORMED = {
    "bad yaml": (
        {"01-basics/01-pods.md": "---\ntitle: [unclosed\nsummary: x\n---\nbody\n"},
        "01-basics/01-pods.md:",
        "invalid YAML",
    ),
    "unknown phase": (
        {"02-mystery/01-orphan.md": lesson_text("Orphan")},
        "02-mystery",
        "unknown phase",
    ),
    "duplicate slug": (
        {"02-more/_phase.md": PHASE, "02-more/01-pods.md": lesson_text("Pods twice")},
        "02-more/01-pods.md",
        "duplicate lesson slug 'pods'",
    ),
    "missing title": (
        {"01-basics/03-untitled.md": "---\nsummary: no title\n---\nbody\n"},
        "01-basics/03-untitled.md:2",
        "missing title",
    ),
    "question without a correct answer": (
        {
            "01-basics/03-quiz.md": (
                "---\ntitle: Quiz\nquiz:\n  - question: Which?\n    choices:\n"
                "      - text: A\n      - text: B\n---\nbody\n"
            )
        },
        "01-basics/03-quiz.md:4",
        "no correct choice",
    ),
    "unknown prerequisite": (
        {"01-basics/03-next.md": lesson_text("Next", prerequisites=["nonexistent"])},
        "01-basics/03-next.md",
        "unknown prerequisite 'nonexistent'",
    ),
    "prerequisite cycle": (
        {
            "01-basics/01-pods.md": lesson_text("Pods", prerequisites=["probes"]),
        },
        "01-basics/",
        "prerequisite cycle",
    ),
    "bad slug": (
        {"01-basics/03-Bad_Slug.md": lesson_text("Bad")},
        "01-basics/03-Bad_Slug.md",
        "file name must be NN-slug.md",
    ),
    "reserved phase slug": (
        {"03-search/_phase.md": PHASE},
        "03-search",
        "reserved",
    ),
    "unknown key": (
        {"01-basics/03-typo.md": "---\ntitle: Typo\nprerequisite: [pods]\n---\nbody\n"},
        "01-basics/03-typo.md:2",
        "unknown keys: prerequisite",
    ),
    "minutes not a number": (
        {"01-basics/03-time.md": "---\ntitle: Time\nminutes: soon\n---\nbody\n"},
        "01-basics/03-time.md:2",
        "minutes must be a positive whole number",
    ),
    "no front matter": (
        {"01-basics/03-plain.md": "# Just markdown\n"},
        "01-basics/03-plain.md:1",
        "front matter",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_check_rejects_malformed_content_naming_file_and_problem(tmp_path, case):
    files, where, problem = MALFORMED[case]
    root = good_tree(tmp_path)
    write_tree(root, files)
    err = run_failing(root, "--check")
    assert where in err, err
    assert problem in err, err


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_failed_import_changes_nothing(tmp_path, case):
    root = good_tree(tmp_path)
    run(root)
    snapshot = sorted(Lesson.objects.values_list("slug", "title", "body", "status", "updated_at"))
    files, _, _ = MALFORMED[case]
    write_tree(root, files)
    (root / "01-basics/02-probes.md").write_text(lesson_text("Probes renamed", ["pods"]))
    run_failing(root)
    after = sorted(Lesson.objects.values_list("slug", "title", "body", "status", "updated_at"))
    assert after == snapshot


def test_the_yaml_error_names_the_line_in_the_file(tmp_path):
    root = write_tree(
        tmp_path / "content",
        {
            "01-basics/_phase.md": PHASE,
            "01-basics/01-pods.md": "---\ntitle: Pods\nsummary: ok\nminutes: [1\n---\nbody\n",
        },
    )
    err = run_failing(root, "--check")
    assert "01-basics/01-pods.md:5:" in err or "01-basics/01-pods.md:4:" in err


def test_the_shipped_curriculum_is_valid_and_complete():
    out, err = run(settings.SHIRUBE_CONTENT_DIR, "--check")
    assert "error" not in err
    phases = [p for p in settings.SHIRUBE_CONTENT_DIR.iterdir() if p.is_dir()]
    assert len(phases) >= 5
    run(settings.SHIRUBE_CONTENT_DIR)
    lessons = Lesson.objects.all()
    assert lessons.count() >= 20
    for lesson in lessons:
        assert lesson.questions.count() >= 3, lesson.slug
        assert "<pre" in lesson.body_html, f"{lesson.slug} has no worked example"
        assert "Pitfalls" in lesson.body_html, f"{lesson.slug} has no pitfalls section"


def test_content_hash_tracks_every_authored_field(tmp_path):
    run(good_tree(tmp_path))
    pods = Lesson.objects.get(slug="pods")
    assert lesson_content_hash(pods) == pods.imported_hash
    question = pods.questions.get()
    choice = question.choices.first()
    choice.explain = "changed"
    choice.save()
    assert lesson_content_hash(pods) != pods.imported_hash


def test_it_prints_a_readable_summary(tmp_path):
    out, _ = run(good_tree(tmp_path))
    assert textwrap.dedent("lessons created: pods, probes") in out

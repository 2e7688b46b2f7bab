"""kubesim stays out of the production image: not copied into it, not imported by what is.

docker cannot run here, so the build context is computed the way docker computes it:
every file under the project, less what .dockerignore excludes (the Dockerfile copies
the whole context). The rules follow moby's patternmatcher: patterns are cleaned and
lose a leading `/`, `*` and `?` stop at `/`, `**` crosses directories, a pattern that
matches a directory excludes what is under it, and the last matching line decides
(`!` re-includes).
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The one app that may import kubesim (the import-linter contract keeps it so).
KUBESIM_IMPORTERS = ("apps/demo/",)


# Demo modules that import kubesim until they move to apps/demo (issue 12's other half). Each
# must exist: once moved, the test fails here until the line goes, so the list cannot go stale.
def ignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """(is an exception, regex) per pattern line of a .dockerignore."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if exception else line).lstrip("/")
        rules.append((exception, re.compile(_regex(pattern))))
    return rules


def _regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 1
        else:
            out += re.escape(char)
        i += 1
    return f"^{out}$"


def excluded(rules: list[tuple[bool, re.Pattern]], path: str) -> bool:
    """Whether `path` (relative, `/`-separated) is left out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for exception, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            result = not exception
    return result


def build_context(root: Path = ROOT) -> list[str]:
    """The files `docker build` would send from `root`, as relative paths."""
    rules = ignore_rules((root / ".dockerignore").read_text())
    # An excluded directory can be skipped whole unless an exception could bring part of it back.
    prune = not any(exception for exception, _ in rules)
    files = []
    for directory, subdirs, names in os.walk(root):
        relative = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        if prune:
            subdirs[:] = [d for d in subdirs if not excluded(rules, prefix + d)]
        files += [prefix + n for n in names if not excluded(rules, prefix + n)]
    return sorted(files)


def kubesim_imports(source: str) -> list[int]:
    """Lines that import kubesim: import statements anywhere, and import_module("kubesim...")."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = ast.unparse(node.func)
            dynamic = called.endswith("import_module") or called == "__import__"
            names = [str(node.args[0].value)] if dynamic else []
        else:
            continue
        if any(name == "kubesim" or name.startswith("kubesim.") for name in names):
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize(
    ("pattern", "path", "left_out"),
    [
        ("*/temp*", "somedir/temporary.txt", True),
        ("*/temp*", "somedir/sub/temporary.txt", False),
        ("*/*/temp*", "somedir/subdir/temporary.txt", True),
        ("temp?", "tempa", True),
        ("temp?", "tempab", False),
        ("**/*.go", "a/b/c.go", True),
        ("**/*.go", "c.go", True),
        ("/kubesim", "kubesim/server.py", True),
        ("kubesim/", "kubesim/objects/pods.py", True),
        ("kubesim", "apps/kubesim.py", False),
        ("**/__pycache__", "apps/core/__pycache__/x.pyc", True),
    ],
)
def test_the_ignore_rules_read_as_docker_reads_them(pattern, path, left_out):
    assert excluded(ignore_rules(pattern), path) is left_out


def test_the_last_matching_line_decides():
    rules = ignore_rules("*.md\n!README*.md\nREADME-secret.md\n")
    assert [excluded(rules, p) for p in ("a.md", "README.md", "README-secret.md")] == [True, False, True]
    rules = ignore_rules("*.md\nREADME-secret.md\n!README*.md\n")
    assert [excluded(rules, p) for p in ("a.md", "README.md", "README-secret.md")] == [True, False, False]


def test_the_dockerfile_copies_the_whole_context():
    # So .dockerignore alone decides what is in the image; a narrower COPY could bring kubesim
    # back only by naming it, which the context no longer holds.
    copies = [
        line.split() for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY")
    ]
    sources = [[word for word in words[1:-1] if not word.startswith("--")] for words in copies]
    assert ["."] in sources


def test_the_image_holds_no_kubesim_tests_or_benchmarks():
    context = build_context()

    assert "manage.py" in context and "apps/clusters/kube.py" in context  # the product is there
    assert [f for f in context if f.split("/")[0] in ("kubesim", "tests", "bench")] == []


def test_nothing_in_the_image_imports_kubesim_but_the_demo_app():
    importers = {
        path: lines
        for path in build_context()
        if path.endswith(".py")
        and (lines := kubesim_imports((ROOT / path).read_text()))
        and not path.startswith(KUBESIM_IMPORTERS)
    }

    assert importers == {}


def test_the_import_check_sees_imports_anywhere_in_a_module():
    source = (
        "import os\n"
        "def seed():\n"
        "    from kubesim.objects import REGISTRY\n"
        "import kubesim\n"
        "importlib.import_module('kubesim.demo')\n"
        "from apps.kubesimple import x\n"
    )
    assert kubesim_imports(source) == [3, 4, 5]

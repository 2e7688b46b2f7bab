"""The floors (CONVENTIONS.md) are enforced: import-linter's contracts hold, catch an upward import,
name every app, and keep kubesim to apps.demo (every other module imports without it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip


def test_every_package_under_apps_is_on_a_floor():
    floors = contracts()["floors"]
    named = {
        name.strip().strip("()")
        for layer in floors["layers"]
        for name in re.split(r"[|:]", layer)
        if name.strip()
    }
    packages = {path.parent.name for path in (ROOT / "apps").glob("*/__init__.py")}
    assert packages - named == set(), "a package under apps/ is on no floor: add it to pyproject.toml"
    assert named - packages == set(), "a floor names an app that does not exist"
    assert floors["containers"] == ["apps"] and floors["exhaustive"] is True
    kubesim = contracts()["kubesim-fenced"]
    assert kubesim["source_modules"] == ["apps", "portal"] and kubesim["forbidden_modules"] == ["kubesim"]
    assert kubesim["ignore_imports"] == ["apps.demo.** -> kubesim.**"]


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def copy_of_the_code(tmp_path: Path) -> Path:
    for name in ("apps", "portal", "kubesim"):
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "templates")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_an_upward_import_a_sideways_one_a_new_app_or_kubesim_breaks_a_contract(tmp_path):
    code = copy_of_the_code(tmp_path)
    sync = code / "apps/clusters/sync.py"
    original = sync.read_text()
    sync.write_text(
        original + "\n\ndef _later():\n    from apps.readiness.tasks import readiness_recompute\n"
    )
    result = lint_imports(code)
    assert result.returncode == 1
    assert "apps.clusters is not allowed to import apps.readiness" in result.stdout
    assert "apps.clusters.sync -> apps.readiness.tasks" in result.stdout

    sync.write_text(original)
    (code / "apps/audit/lesson_link.py").write_text("from apps.lessons.models import Lesson  # noqa\n")
    result = lint_imports(code)
    assert result.returncode == 1 and "apps.audit is not allowed to import apps.lessons" in result.stdout
    (code / "apps/audit/lesson_link.py").unlink()

    (code / "apps/chat").mkdir()
    (code / "apps/chat/__init__.py").write_text("")
    result = lint_imports(code)
    assert result.returncode == 1 and "apps.chat" in result.stdout  # a new app must be put on a floor
    shutil.rmtree(code / "apps/chat")

    (code / "apps/clusters/fake.py").write_text("from kubesim.store import Store  # noqa\n")
    result = lint_imports(code)
    assert result.returncode == 1
    assert "apps.clusters.fake -> kubesim.store" in result.stdout


# Refuses `kubesim` as the production image does (it is not there), then imports every module.
_WITHOUT_KUBESIM = """
import importlib, sys
from importlib.abc import MetaPathFinder

class NoKubesim(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "kubesim" or name.startswith("kubesim."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused: not in the production image)")
        return None

sys.meta_path.insert(0, NoKubesim())
import django
django.setup()
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
assert "kubesim" not in sys.modules
print("\\n".join(failed) or "all imported")
sys.exit(1 if failed else 0)
"""


def product_modules() -> list[str]:
    names = []
    for path in sorted([*(ROOT / "apps").rglob("*.py"), *(ROOT / "portal").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if not module.startswith("apps.demo"):
            names.append(module)
    return names


def test_every_module_but_the_demo_imports_without_kubesim(tmp_path):
    modules = product_modules()
    assert {"apps.clusters.sync", "apps.environments.gitops.writer", "portal.urls"} <= set(modules)
    env = {
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "tests-only", "SHIRUBE_VAR_DIR": str(tmp_path),
    }  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_KUBESIM, *modules], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip() == "all imported"


def test_the_refusal_is_real_the_demo_needs_kubesim(tmp_path):
    """The same harness does fail a module that needs kubesim: the check above can fail."""
    env = {
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "tests-only", "SHIRUBE_VAR_DIR": str(tmp_path),
    }  # fmt: skip
    probe = tmp_path / "needs_kubesim.py"
    probe.write_text("import kubesim.store\n")
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_KUBESIM, "needs_kubesim"], cwd=tmp_path,
        env={**env, "PYTHONPATH": f"{tmp_path}:{ROOT}"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1 and "needs_kubesim: ModuleNotFoundError" in result.stdout

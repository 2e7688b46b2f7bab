"""Nothing the running product writes lives in the repository (issue 11: Celery dirtied a tracked file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_filesystem_broker_keeps_its_control_files_under_the_var_dir(tmp_path):
    """kombu's filesystem transport binds exchanges in `control/` relative to the working directory
    unless told otherwise; a broadcast (what `celery inspect` and the worker's pidbox do) binds one."""
    var = tmp_path / "var"
    script = "import django\ndjango.setup()\nfrom portal.celery import app\napp.control.ping(timeout=0.2)\n"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "true",
             "SHIRUBE_VAR_DIR": str(var), "CELERY_BROKER_URL": "filesystem://"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-2000:]
    assert list((var / "celery-control").glob("*.exchange")), "the broadcast bound no exchange under var/"
    assert not (ROOT / "control").exists(), "Celery wrote into the checkout"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/control/" in ignored  # an older checkout's leftovers stay out of commits

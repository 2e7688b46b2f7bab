"""The test harness on xdist workers: a session server's tests share one worker.

Runs pytest on two workers over a small suite of its own, with the harness plugin, as
`make test` runs the real one (tests/harness/xdist_groups.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def keycloak():  # the name is what groups the tests, as for the real Keycloak fixture
    return "a session server"
"""

TESTS = """
import os, time
from pathlib import Path

import pytest

def record(name):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    (Path(os.environ["SCHEDULING_OUT"]) / name).write_text(f"{worker} {time.monotonic_ns()}")

@pytest.mark.parametrize("n", range(6))
def test_server(keycloak, n):
    record(f"server-{n}")

@pytest.mark.parametrize("n", range(6))
def test_plain(n):
    record(f"plain-{n}")
"""


def _run(tmp_path: Path, out: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.update(
        PYTHONPATH=str(ROOT),
        SCHEDULING_OUT=str(out),
        # The suite's own PostgreSQL: the inner run needs none of its own.
        SHIRUBE_TEST_DATABASE_URL=os.environ["DATABASE_URL"],
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.harness.plugin", "-p", "no:django", "-n", "2",
         "--dist", "loadgroup", "-q", "-p", "no:cacheprovider", "suite"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def _seen(out: Path) -> dict[str, tuple[str, int]]:
    return {
        path.name: (worker, int(ns)) for path in out.iterdir() for worker, ns in [path.read_text().split()]
    }


def test_a_session_servers_tests_share_one_worker(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_inner.py").write_text(TESTS)
    out = tmp_path / "out"
    out.mkdir()

    result = _run(tmp_path, out)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = _seen(out)
    assert len({seen[f"server-{n}"][0] for n in range(6)}) == 1, seen  # one worker ran them all
    assert len({worker for worker, _ in seen.values()}) == 2, seen  # and the other one worked too

"""The test harness on xdist workers: a session server's tests share one worker; slowest first.

Runs pytest on two workers over a small suite of its own, with the harness plugin, as
`make test` runs the real one (tests/harness/xdist_groups.py).
"""

from __future__ import annotations

import json
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


def _run(tmp_path: Path, out: Path, *, workers: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.update(
        PYTHONPATH=str(ROOT),
        SCHEDULING_OUT=str(out),
        # The suite's own PostgreSQL: the inner run needs none of its own.
        SHIRUBE_TEST_DATABASE_URL=os.environ["DATABASE_URL"],
    )
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.harness.plugin", "-p", "no:django", "-n", str(workers),
         "--dist", "loadgroup", "-q", "-o", f"cache_dir={tmp_path / 'cache'}", "suite"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def _seen(out: Path) -> dict[str, tuple[str, int]]:
    return {
        path.name: (worker, int(ns)) for path in out.iterdir() for worker, ns in [path.read_text().split()]
    }


def test_a_servers_tests_share_a_worker_and_the_slowest_of_the_last_run_go_first(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_inner.py").write_text(TESTS)
    out = tmp_path / "out"
    out.mkdir()

    first = _run(tmp_path, out, workers=2)
    assert first.returncode == 0, first.stdout + first.stderr
    seen = _seen(out)
    assert len({seen[f"server-{n}"][0] for n in range(6)}) == 1, seen  # one worker ran them all
    assert len({worker for worker, _ in seen.values()}) == 2, seen  # and the other one worked too
    cached = tmp_path / "cache" / "v" / "shirube" / "test-durations"
    durations = json.loads(cached.read_text())
    assert set(durations) == {
        f"suite/test_inner.py::test_{k}[{n}]" for k in ("server", "plain") for n in range(6)
    }

    # As if the last plain test had been the slowest of the last run: it is handed out first, after
    # the server's group (the largest unit). One worker, so that the order run is the order sent.
    durations["suite/test_inner.py::test_plain[5]"] = 100.0
    cached.write_text(json.dumps(durations))
    for path in out.iterdir():
        path.unlink()
    second = _run(tmp_path, out, workers=1)
    assert second.returncode == 0, second.stdout + second.stderr
    order = [name for _, name in sorted((ns, name) for name, (_, ns) in _seen(out).items())]
    assert order[6:8] == ["plain-5", "plain-0"], order
    assert sorted(order[:6]) == [f"server-{n}" for n in range(6)], order

"""scripts/supervisor.py with real processes: a crash is restarted and said, Ctrl-C ends everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripts.processes import Watched, group_alive, leave_nothing_running, supervised

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = ROOT / "scripts" / "supervisor.py"
PY = sys.executable

SLEEPER = f"{PY} -c \"import time; print('up', flush=True); time.sleep(600)\""
# Starts a grandchild in its own process group's reach, and says its pid.
PARENT = (
    f"{PY} -c \"import subprocess, time; c = subprocess.Popen(['sleep', '600']); "
    f"print('grandchild', c.pid, flush=True); time.sleep(600)\""
)
STUBBORN = (
    f'{PY} -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); '
    f"print('up', flush=True); time.sleep(600)\""
)


class Run(Watched):
    """The supervisor on a Procfile of its own."""

    def __init__(self, tmp_path: Path, procfile: str, *args: str) -> None:
        (tmp_path / "Procfile").write_text(procfile)
        self.status_path = tmp_path / "status.json"
        super().__init__([PY, str(SUPERVISOR), "-f", "Procfile", "--status", str(self.status_path), *args],
                         cwd=tmp_path)  # fmt: skip

    def status(self) -> dict:
        return supervised(self.status_path)

    def running(self, *names: str) -> bool:
        status = self.status()
        return all(status.get(n, {}).get("running") for n in names)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie nobody reaped is not running.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.fixture
def runs():
    started: list[Run] = []
    yield started
    for run in started:  # a failing test must not leave sleepers behind
        leave_nothing_running(run, run.status_path)


def test_a_killed_process_is_restarted_and_the_log_says_so(tmp_path, runs):
    run = Run(tmp_path, f"one: {SLEEPER}\ntwo: {SLEEPER}\n", "--first-backoff", "0.2")
    runs.append(run)
    run.wait_until(lambda: run.running("one", "two"), what="both processes")
    before = run.status()
    os.kill(before["one"]["pid"], signal.SIGKILL)

    run.wait_until(lambda: run.status()["one"]["restarts"] == 1 and run.running("one"), what="the restart")
    after = run.status()
    assert after["one"]["pid"] != before["one"]["pid"] and after["one"]["last_exit"] == "killed by SIGKILL"
    assert after["two"] == before["two"]  # the others are left alone, unlike honcho
    run.wait_until(lambda: f"one restarted (pid {after['one']['pid']})" in run.output, what="the log")
    assert re.search(
        r"!!! one exited unexpectedly \(killed by SIGKILL\) after \d+ s; restarting it in 0.2 s", run.output
    )
    assert run.interrupt() < 10


def test_a_process_that_keeps_failing_is_restarted_ever_more_slowly(tmp_path, runs):
    run = Run(tmp_path, f'flaky: {PY} -c "raise SystemExit(3)"\n', "--first-backoff", "0.1")
    runs.append(run)
    run.wait_until(lambda: "restarting it in 0.4 s" in run.output, what="three failures")
    waits = re.findall(
        r"flaky exited unexpectedly \(exit code 3\) after 0 s; restarting it in ([\d.]+) s", run.output
    )
    assert waits[:3] == ["0.1", "0.2", "0.4"]
    run.interrupt()


def test_ctrl_c_stops_everything_within_seconds_and_leaves_no_orphans(tmp_path, runs):
    procfile = f"plain: {SLEEPER}\nparent: {PARENT}\nstubborn: {STUBBORN}\n"
    run = Run(tmp_path, procfile, "--grace", "2")
    runs.append(run)
    run.wait_until(lambda: run.running("plain", "parent", "stubborn"), what="three processes")
    run.wait_until(lambda: "grandchild" in run.output and run.output.count("| up") == 2, what="their output")
    grandchild = int(re.search(r"parent +\| grandchild (\d+)", run.output)[1])
    groups = [entry["pid"] for entry in run.status().values()]
    assert alive(grandchild)

    took = run.interrupt()

    assert took < 2 + 3, run.output  # the grace period, then SIGKILL: not 5 s per process
    assert run.proc.returncode == 0
    assert not alive(grandchild), "the grandchild outlived the run"
    assert not [pgid for pgid in groups if group_alive(pgid)], run.output
    assert "stubborn did not stop within 2 s: killed" in run.output
    assert "parent started did not stop" not in run.output  # its leftovers got SIGTERM once it ended
    status = run.status()
    assert not any(entry["running"] for entry in status.values())


def test_a_malformed_procfile_is_refused_with_its_line(tmp_path):
    (tmp_path / "Procfile").write_text("# fine\nweb python -m http.server\n")
    result = subprocess.run(
        [PY, str(SUPERVISOR), "-f", "Procfile"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Procfile:2: expected `name: command`" in result.stderr

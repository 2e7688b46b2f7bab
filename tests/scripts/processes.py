"""Running scripts/ as real processes in tests: their output line by line, their leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path


class Watched:
    """A process whose output (stdout and stderr) is collected line by line while it runs."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"it ended ({self.proc.returncode}):\n{self.output}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:g} s:\n{self.output}"
            time.sleep(0.05)

    def wait_for_line(self, text: str, *, timeout: float, after: int = 0) -> int:
        """The index of the first line from `after` on that contains `text`."""
        found: list[int] = []

        def seen() -> bool:
            found.extend(i for i, line in enumerate(self.lines[after:], start=after) if text in line)
            return bool(found)

        self.wait_until(seen, timeout=timeout, what=repr(text))
        return found[0]

    def interrupt(self, timeout: float = 60) -> float:
        """SIGINT, as Ctrl-C sends; how long it took to exit."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - began


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def supervised(status_path: Path) -> dict:
    """What scripts/supervisor.py's status file says about each process ({} before it exists)."""
    try:
        return json.loads(status_path.read_text())["processes"]
    except (OSError, ValueError):
        return {}


def leave_nothing_running(watched: Watched, status_path: Path) -> None:
    """After a test, even a failed one: stop the supervisor, then kill any group it left."""
    if watched.proc.poll() is None:
        watched.proc.send_signal(signal.SIGINT)
        try:
            watched.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watched.proc.kill()
            watched.proc.wait()
    for entry in supervised(status_path).values():
        if entry.get("pid") and group_alive(entry["pid"]):
            os.killpg(entry["pid"], signal.SIGKILL)

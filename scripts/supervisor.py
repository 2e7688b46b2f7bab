"""A small process supervisor for `make run`: one crash is loud and repaired, not the end of all.

    python scripts/supervisor.py [-f Procfile.dev] [--grace 10] [--status PATH] [--first-backoff 1]

Honcho, which `make run` used before, stops every process when one exits: a
worker that died took web, beat and the demo cluster with it, and the browser
said "connection refused". This supervisor instead

- runs each command as `sh -c "exec COMMAND"` (so the process it signals is the
  program itself, not a shell; use `env NAME=value program` for a per-process
  variable) in a session of its own, so that a terminal's Ctrl-C reaches only
  the supervisor, which then stops everything in order;
- prefixes each line a process prints with the time and its name, coloured on
  a terminal;
- restarts a process that exits while nobody asked it to, after 1 s, doubling
  the wait for each quick failure in a row up to 30 s, and says so loudly;
- on SIGINT, SIGTERM or SIGHUP sends SIGTERM to each process (the last tier
  first), waits up to --grace seconds for the process *and everything it
  started* to end, then SIGKILLs what is left and names it; a second Ctrl-C
  kills at once;
- adopts what its processes leave behind (a Linux child subreaper), so that no
  grandchild outlives a run as an orphan;
- writes what runs, since when and how often it restarted to a JSON status
  file, which scripts/soak.py reads.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92")
LOUD = "1;31"
PR_SET_CHILD_SUBREAPER = 36


@dataclass
class Child:
    name: str
    command: str
    tier: int
    colour: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    restart_at: float | None = None
    last_exit: str = ""
    exit_handled: bool = False
    reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group (zombies we have not reaped count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so that they are reaped and stopped here."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """`name: command` lines; blank lines and # comments are skipped, anything else is an error."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(\S.*)", line.strip())
        if not match:
            raise ValueError(f"{path}:{number}: expected `name: command`, got {line!r}")
        entries.append((match[1], match[2]))
    return entries


class Supervisor:
    def __init__(
        self,
        *,
        cwd: Path,
        env: dict[str, str],
        out: TextIO = sys.stdout,
        grace: float = 10.0,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 30.0,
        status_path: Path | None = None,
        colour: bool | None = None,
    ) -> None:
        self.cwd, self.env, self.out = cwd, env, out
        self.grace, self.first_backoff, self.max_backoff = grace, first_backoff, max_backoff
        self.stable_after = stable_after
        self.status_path = status_path
        if colour is None:
            colour = out.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self.children: dict[str, Child] = {}
        self.stopping = False
        self.interrupts = 0
        self.started_at = time.time()
        self._lock = threading.Lock()
        self._width = 3
        self.subreaper = become_subreaper()

    # -- output ---------------------------------------------------------------

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def _write(self, name: str, code: str, line: str) -> None:
        prefix = self._paint(code, f"{time.strftime('%H:%M:%S')} {name:<{self._width}} |")
        with self._lock:
            try:
                self.out.write(f"{prefix} {line}\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # the terminal went away; keep supervising

    def say(self, message: str, *, loud: bool = False) -> None:
        """A line from the supervisor itself; loud ones stand out in bold red."""
        self._write("run", LOUD if loud else "1", self._paint(LOUD, message) if loud else message)

    def _pump(self, child: Child, stream) -> None:
        for raw in iter(stream.readline, b""):
            self._write(child.name, child.colour, raw.decode("utf-8", "replace").rstrip("\r\n"))
        stream.close()

    # -- processes ------------------------------------------------------------

    def add(self, name: str, command: str, *, tier: int = 0) -> None:
        if name in self.children:
            raise ValueError(f"two processes are called {name!r}")
        colour = COLOURS[len(self.children) % len(COLOURS)]
        self.children[name] = Child(name=name, command=command, tier=tier, colour=colour)
        self._width = max(self._width, len(name))

    def start(self, *names: str) -> None:
        for name in names or tuple(self.children):
            self._spawn(self.children[name])
        self.write_status()

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {child.command}"],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at = time.time()
        child.restart_at = None
        child.exit_handled = False
        child.reader = threading.Thread(target=self._pump, args=(child, child.proc.stdout), daemon=True)
        child.reader.start()
        self.say(f"{child.name} {'restarted' if child.restarts else 'started'} (pid {child.proc.pid})")

    def poll(self) -> None:
        """Notice exits, restart what is due, and reap adopted orphans."""
        now = time.time()
        for child in self.children.values():
            if child.proc is not None and not child.exit_handled and child.proc.poll() is not None:
                self._exited(child, now)
            if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.restarts += 1
                self._spawn(child)
                self.write_status()
        self._reap_orphans()

    def _exited(self, child: Child, now: float) -> None:
        ran = now - child.started_at
        child.exit_handled = True
        child.last_exit = describe_exit(child.proc.returncode)
        if self.stopping:
            return
        child.quick_failures = child.quick_failures + 1 if ran < self.stable_after else 1
        wait = min(self.max_backoff, self.first_backoff * 2 ** (child.quick_failures - 1))
        child.restart_at = now + wait
        # Its own children (a worker's pool, say) go with it before the restart.
        if group_alive(child.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
        self.say(
            f"!!! {child.name} exited unexpectedly ({child.last_exit}) after {duration(ran)}; "
            f"restarting it in {wait:g} s (restart {child.restarts + 1})",
            loud=True,
        )
        self.write_status()

    def _reap_orphans(self) -> None:
        """Reap descendants adopted as a subreaper without stealing the status of our own children."""
        if not self.subreaper:
            return
        ours = {c.proc.pid: c for c in self.children.values() if c.proc is not None}
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            if info.si_pid in ours:
                ours[info.si_pid].proc.poll()  # reaps it; poll() reports the exit
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)

    def _alive(self, child: Child) -> bool:
        if child.proc is None:
            return False
        if child.proc.poll() is None:
            return True
        return group_alive(child.proc.pid)

    # -- stopping -------------------------------------------------------------

    def request_stop(self, signum: int, _frame=None) -> None:
        """Signal handler: the first signal stops in order, a second Ctrl-C kills at once."""
        self.interrupts += 1
        self.stopping = True
        if self.interrupts > 1:
            for child in self.children.values():
                if child.proc is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.proc.pid, signal.SIGKILL)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self.request_stop)

    def stop(self) -> list[str]:
        """SIGTERM each tier (highest first), wait for each process group, SIGKILL what is left."""
        self.stopping = True
        killed: list[str] = []
        for tier in sorted({c.tier for c in self.children.values()}, reverse=True):
            group = [c for c in self.children.values() if c.tier == tier and self._alive(c)]
            if not group:
                continue
            self.say(f"stopping {', '.join(c.name for c in group)}")
            # The program first, so that it stops its own children in order (a worker its pool).
            for child in group:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
            leftovers_told: set[str] = set()
            deadline = time.monotonic() + self.grace
            while any(self._alive(c) for c in group) and time.monotonic() < deadline:
                for child in group:
                    if child.proc.poll() is not None and child.name not in leftovers_told:
                        leftovers_told.add(child.name)  # the program is gone; what it started is told once
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(child.proc.pid, signal.SIGTERM)
                self._reap_orphans()
                time.sleep(0.05)
            for child in group:
                if self._alive(child):
                    killed.append(child.name)
                    what = child.name if child.proc.poll() is None else f"what {child.name} started"
                    self.say(f"{what} did not stop within {self.grace:g} s: killed", loud=True)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.proc.pid, signal.SIGKILL)
            for child in group:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)
            self._reap_orphans()
        for child in self.children.values():
            if child.reader is not None:
                child.reader.join(timeout=2)
        self.write_status()
        self.say("stopped" + (f" (killed: {', '.join(killed)})" if killed else ""))
        return killed

    def run(self) -> int:
        """Supervise until a signal asks to stop; then stop everything."""
        while not self.stopping:
            self.poll()
            time.sleep(0.2)
        self.stop()
        return 0

    # -- status ---------------------------------------------------------------

    def write_status(self) -> None:
        if self.status_path is None:
            return
        status = {
            "supervisor_pid": os.getpid(),
            "started_at": self.started_at,
            "stopping": self.stopping,
            "processes": {
                c.name: {
                    "pid": c.proc.pid if c.proc is not None else None,
                    "running": c.running,
                    "started_at": c.started_at,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                }
                for c in self.children.values()
            },
        }
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.status_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(status, indent=2))
        temporary.replace(self.status_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-f", "--procfile", type=Path, default=Path("Procfile.dev"))
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("--status", type=Path, default=None, help="write the status JSON here")
    parser.add_argument("--first-backoff", type=float, default=1.0, help="seconds before the first restart")
    args = parser.parse_args(argv)
    supervisor = Supervisor(
        cwd=Path.cwd(), env=dict(os.environ), grace=args.grace, first_backoff=args.first_backoff,
        status_path=args.status,
    )  # fmt: skip
    supervisor.install_signal_handlers()
    try:
        entries = read_procfile(args.procfile)
    except (OSError, ValueError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 2
    for name, command in entries:
        supervisor.add(name, command)
    supervisor.start()
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())

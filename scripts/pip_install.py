"""`pip install -r FILE` with one line of progress instead of a minute of silence or pages of logs.

    .venv/bin/python scripts/pip_install.py requirements-dev.txt

Prints `[n/N] package` as pip collects each pinned requirement (on one updating
line on a terminal), then that it installs them; on failure, pip's own output.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

COLLECTING = re.compile(r"^Collecting ([A-Za-z0-9._-]+)")


def pinned(path: Path) -> set[str]:
    """The names a requirements file pins, following `-r` includes."""
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            names |= pinned(path.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith("-"):
            names.add(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def main(argv: list[str]) -> int:
    requirements = Path(argv[0]) if argv else Path("requirements-dev.txt")
    total = len(pinned(requirements))
    tty = sys.stdout.isatty()
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
         "-r", str(requirements)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    log, count, mid_line = [], 0, False

    def say(text: str, *, progress: bool = False) -> None:
        nonlocal mid_line
        if tty and progress:
            print(f"\r\033[K{text}", end="", flush=True)
        else:
            print(f"{chr(10) if mid_line else ''}{text}", flush=True)
        mid_line = tty and progress

    for line in proc.stdout:
        log.append(line)
        if match := COLLECTING.match(line):
            count += 1
            say(f"  [{count}/{total}] {match[1]}", progress=True)
        elif line.startswith("Installing collected packages"):
            say("  installing them (the longest part)...")
    if proc.wait() != 0:
        say("")
        print("".join(log[-60:]), file=sys.stderr)
        print(f"pip install -r {requirements} failed (exit code {proc.returncode})", file=sys.stderr)
        return proc.returncode
    say(f"  Python packages ready in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

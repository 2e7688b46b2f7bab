"""`make run` end to end (scripts/run_demo.py): quiet start, own error pages, a crash repaired, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.harness.servers import free_port
from tests.scripts.processes import Watched, group_alive, leave_nothing_running, supervised

ROOT = Path(__file__).resolve().parents[2]
# What the test harness sets for itself; a developer's shell has none of it.
HARNESS_VARIABLES = {
    "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
    "SECURE_COOKIES", "DJANGO_SETTINGS_MODULE",
}  # fmt: skip


class Demo(Watched):
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.var = tmp_path / "var"
        self.status_path = self.var / "run" / "supervisor.json"
        env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES}
        env.update(SHIRUBE_VAR_DIR=str(self.var), NO_COLOR="1")
        command = [sys.executable, "scripts/run_demo.py", "--port", str(self.port), "--grace", "5"]
        super().__init__(command, cwd=ROOT, env=env)

    def status(self) -> dict:
        return supervised(self.status_path)


@pytest.fixture
def demo(tmp_path):
    demo = Demo(tmp_path)
    yield demo
    leave_nothing_running(demo, demo.status_path)


def login(url: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    response = session.post(
        f"{url}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": "shirube-demo", "next": ""},
        timeout=30, allow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 302, response.text[:500]
    return session


def checkout_status() -> str:
    """What git sees in the checkout, untracked files included (ignored ones are not the product's)."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout


def test_make_run_starts_quietly_shows_its_own_pages_survives_a_crash_and_stops_on_ctrl_c(demo):
    checkout_before = checkout_status()
    ready = demo.wait_for_line(f"Shirube is ready: {demo.url}/", timeout=240)

    # Nothing alarming on the way up (the kubeconfig warning, runserver's, Redis' host advice...).
    start = "\n".join(demo.lines[:ready])
    assert not re.search(r"warning|traceback|error", start, re.IGNORECASE), start
    # The URL comes once the server answered (its request line may print just after ours).
    assert requests.get(f"{demo.url}/healthz", timeout=10).status_code == 200
    demo.wait_for_line('"GET /healthz HTTP/1.1" 200', timeout=10)

    # The product's pages without DEBUG: its own 404, static files from collectstatic, demo data.
    missing = requests.get(f"{demo.url}/no-such-page/", timeout=30)
    assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
    assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text
    alice = login(demo.url, "alice")
    team = alice.get(f"{demo.url}/teams/payments/environments/", timeout=30)
    assert team.status_code == 200 and "checkout-api" in team.text
    stylesheet = re.search(r'href="(/static/css/shirube\.[0-9a-f]+\.css)"', team.text)[1]
    assert alice.get(f"{demo.url}{stylesheet}", timeout=30).status_code == 200
    # A 403 is one line in the log, not two tracebacks.
    mark = len(demo.lines)
    assert alice.get(f"{demo.url}/readiness/", timeout=30).status_code == 403
    demo.wait_for_line("Forbidden (Permission denied): /readiness/", timeout=10, after=mark)
    time.sleep(0.5)
    assert "Traceback" not in "\n".join(demo.lines[mark:])

    # The broker is the demo's own Redis, with its data under var/.
    assert (demo.var / "redis").is_dir() and "redis://:**@127.0.0.1:" in demo.output

    # One process dies: it is restarted, the others keep serving, and the log says so.
    status = demo.status()
    os.killpg(status["worker"]["pid"], signal.SIGKILL)
    restarted = demo.wait_for_line("!!! worker exited unexpectedly (killed by SIGKILL)", timeout=20)
    demo.wait_for_line("worker restarted (pid", timeout=20, after=restarted)
    assert requests.get(f"{demo.url}/healthz", timeout=10).status_code == 200
    assert demo.status()["web"]["pid"] == status["web"]["pid"]
    demo.wait_for_line("ready.", timeout=60, after=restarted)  # Celery's "worker@host ready."
    groups = [entry["pid"] for entry in demo.status().values()]

    # Ctrl-C: everything stops within the grace period, worker included, and nothing is left.
    took = demo.interrupt()
    assert demo.proc.returncode == 0
    assert took < 12, f"stopping took {took:.1f} s:\n{demo.output}"
    assert "did not stop" not in demo.output, demo.output
    assert not [pgid for pgid in groups if group_alive(pgid)]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{demo.url}/healthz", timeout=5)
    # Nothing the running product wrote lives in the checkout (Celery's filesystem broker once
    # dirtied a tracked file there; issue 11).
    assert checkout_status() == checkout_before


def refused(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """run_demo.py with a developer's environment plus these variables; it must stop before starting."""
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES}
    env.update(SHIRUBE_VAR_DIR=str(tmp_path / "var"), **variables)
    result = subprocess.run(
        [sys.executable, "scripts/run_demo.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (tmp_path / "var" / "run" / "supervisor.json").exists()  # nothing was started
    return result


def test_a_malformed_debug_is_refused_before_anything_starts(tmp_path):
    assert "DEBUG='maybe' is not a boolean" in refused(tmp_path, DEBUG="maybe").stderr


def test_a_port_in_use_is_said_with_the_way_out(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = refused(tmp_path, "--port", str(port))
    assert f"Port {port} on 127.0.0.1 is in use" in result.stderr and f"PORT={port + 1}" in result.stderr


def test_without_redis_it_names_the_package_to_install(tmp_path):
    result = refused(tmp_path, PATH=str(Path(sys.executable).parent))  # no redis-server on this PATH
    assert "install the Debian package redis-server" in result.stderr


def test_a_second_run_on_the_same_var_folder_is_refused(tmp_path):
    # Stands in for a running supervisor: a live process with run_demo.py on its command line.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "run_demo.py"])
    try:
        status = tmp_path / "var" / "run" / "supervisor.json"
        status.parent.mkdir(parents=True)
        status.write_text(json.dumps({"supervisor_pid": other.pid, "processes": {}}))
        env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES}
        env.update(SHIRUBE_VAR_DIR=str(tmp_path / "var"))
        result = subprocess.run(
            [sys.executable, "scripts/run_demo.py", "--port", str(free_port())], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        other.kill()
        other.wait()
    assert result.returncode == 2
    assert f"Another `make run` (pid {other.pid}) is using" in result.stderr

"""`make run` end to end (scripts/run_demo.py): quiet start, own error pages, a crash repaired, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
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


def test_make_run_starts_quietly_shows_its_own_pages_survives_a_crash_and_stops_on_ctrl_c(demo):
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

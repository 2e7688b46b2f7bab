"""`make run`: the portal with demo data, its own Redis and the demo cluster, supervised.

    python scripts/run_demo.py [--port 8000]

Starts a local Redis (the Celery broker, the cache and the locks) and kubesim,
prepares the demo database, then web, worker and beat, and prints the URL once
the web server answers. Every process runs under scripts/supervisor.py: a crash
is restarted and said loudly, Ctrl-C stops everything. DEBUG=true shows
Django's debug pages instead of the product's own error pages.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from supervisor import Supervisor, read_procfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

from portal.env import env_bool  # noqa: E402  (the settings' own parser: a bad DEBUG is said the same way)

FIRST = ("redis", "kube")  # what the set-up steps need running
DEMO_USERS = "alice, bob, carol or sre"
DEMO_PASSWORD = "shirube-demo"


class Abort(Exception):
    """The demo cannot start; the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_http(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def demo_environment(
    base: dict[str, str], *, var_dir: Path, web_port: int, redis_port: int, kube_port: int
) -> dict[str, str]:
    """The environment every demo process gets: its own Redis, the demo switch, loopback only."""
    env = {k: v for k, v in base.items() if k not in {"REDIS_URL", "CELERY_BROKER_URL"}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if "SECRET_KEY" not in env and "SECRET_KEY_FILE" not in env:
        env["SECRET_KEY_FILE"] = str(secret_key_file(var_dir))
    env.setdefault("DEBUG", "false")
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("SECURE_COOKIES", "false")  # plain http on loopback
    # Notifications without Slack: e-mail printed by the worker, links to this demo's address, and
    # /notifications/ (as `sre`) lists what was sent.
    env.setdefault("SHIRUBE_EMAIL_BACKEND", "console")
    env.setdefault("SHIRUBE_SITE_URL", f"http://127.0.0.1:{web_port}")
    env.update(
        SHIRUBE_DEMO="true",
        SHIRUBE_VAR_DIR=str(var_dir),
        # The demo's GitOps repository is a local one (var/demo-gitops.git), which production never allows.
        SHIRUBE_GIT_ALLOW_LOCAL="true",
        # Separate databases, so that clearing the cache never empties the task queue.
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/1",
        PORT=str(web_port),
        SHIRUBE_REDIS_PORT=str(redis_port),
        SHIRUBE_KUBE_PORT=str(kube_port),
        PYTHONUNBUFFERED="1",
        # The demo is a development server by definition; saying so at every start is noise.
        DJANGO_RUNSERVER_HIDE_WARNING="true",
    )
    return env


def running_demo(var_dir: Path) -> int | None:
    """The pid of a `make run` still supervising this var/ folder, if any (Linux)."""
    try:
        pid = json.loads((var_dir / "run" / "supervisor.json").read_text())["supervisor_pid"]
        command = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(pid) if b"run_demo.py" in command or b"supervisor.py" in command else None


def secret_key_file(var_dir: Path) -> Path:
    """A key of this checkout's own, kept under var/ so that sessions survive a restart."""
    path = var_dir / "secret-key"
    if not path.exists():
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key:
            key.write(secrets.token_urlsafe(50))
    return path


class Demo:
    def __init__(
        self, *, supervisor: Supervisor, env: dict[str, str], var_dir: Path, web_port: int, debug: bool
    ) -> None:
        self.sup, self.env, self.var_dir = supervisor, env, var_dir
        self.web_port, self.debug = web_port, debug

    def step(self, title: str, *args: str) -> None:
        """One manage.py command, quiet unless it fails (then its output and the reason stop the run)."""
        self.sup.say(f"{title}...")
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if self.sup.stopping:
            raise KeyboardInterrupt
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise Abort(f"`manage.py {' '.join(args)}` failed (exit code {result.returncode}):\n{output}")
        self.sup.say(f"{title}: done in {time.monotonic() - began:.1f} s")

    def wait_for(
        self, what: str, ready: Callable[[], bool], *, timeout: float, why: str = "its lines above say why"
    ) -> None:
        """Poll until `ready()`, supervising meanwhile (a crash here is restarted and shown)."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.sup.poll()
            if self.sup.stopping:
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise Abort(f"{what} did not answer within {timeout:g} s; {why}.")
            time.sleep(0.2)

    def run(self) -> None:
        kubeconfig = self.var_dir / "demo-kubeconfig"
        kubeconfig.unlink(missing_ok=True)  # a stale one would point at the last run's port
        self.sup.say("starting Redis (broker, cache and locks) and the demo cluster")
        self.sup.start(*FIRST)
        self.step("migrating the database", "migrate", "--no-input", "-v", "0")
        self.step("importing the lessons from content/", "load_content", "-v", "0")
        self.step("creating the demo users", "seed_demo", "-v", "0")
        if not self.debug:
            # Without DEBUG the site serves what collectstatic gathered (as in production).
            self.step("collecting static files", "collectstatic", "--no-input", "-v", "0")
        redis_port = int(self.env["SHIRUBE_REDIS_PORT"])
        kube_port = int(self.env["SHIRUBE_KUBE_PORT"])
        self.wait_for(
            "Redis",
            lambda: answers_tcp(redis_port),
            timeout=20,
            why=f"{self.var_dir}/redis/redis.log says why",
        )
        self.wait_for("the demo cluster", lambda: kubeconfig.exists() and answers_tcp(kube_port), timeout=60)
        self.step(
            "registering the demo cluster", "add_cluster", "demo", "--kubeconfig", str(kubeconfig),
            "--context", "demo", "--stage", "staging",
        )  # fmt: skip
        self.step("creating the demo environments and their GitOps repository", "seed_demo_environments")
        self.sup.start(*(name for name in self.sup.children if name not in FIRST))
        url = f"http://127.0.0.1:{self.web_port}"
        self.wait_for("the web server", lambda: answers_http(self.web_port, "/healthz"), timeout=120)
        self.sup.say(f"Shirube is ready: {url}/")
        self.sup.say(f"  sign in as {DEMO_USERS} (password {DEMO_PASSWORD}); README.md says who is who")
        self.sup.say("  Ctrl-C stops everything; a process that crashes is restarted and said so here")


def why_not(*, var_dir: Path, port: int) -> str | None:
    """Why the demo cannot start, said before anything starts; None when it can."""
    try:
        env_bool("DEBUG", False)
    except ImproperlyConfigured as exc:
        return str(exc)
    if not shutil.which("redis-server"):
        return (
            "make run needs a Redis server (the Celery broker): install the Debian package "
            "redis-server (apt-get install redis-server), or run `make run` as root to have it installed."
        )
    if (other := running_demo(var_dir)) is not None:
        return (
            f"Another `make run` (pid {other}) is using {var_dir}: its database, Redis and demo cluster. "
            "Stop it first (Ctrl-C in its terminal)."
        )
    if not port_is_free(port):
        return (
            f"Port {port} on 127.0.0.1 is in use (another `make run`?). Stop it, "
            f"or choose another port: make run PORT={port + 1}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    parser.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)

    var_dir = Path(os.environ.get("SHIRUBE_VAR_DIR") or ROOT / "var").resolve()
    if problem := why_not(var_dir=var_dir, port=args.port):
        print(problem, file=sys.stderr)
        return 2
    (var_dir / "redis").mkdir(parents=True, exist_ok=True)
    debug = env_bool("DEBUG", False)

    env = demo_environment(
        dict(os.environ), var_dir=var_dir, web_port=args.port, redis_port=free_port(), kube_port=free_port()
    )
    supervisor = Supervisor(
        cwd=ROOT, env=env, grace=args.grace, status_path=var_dir / "run" / "supervisor.json"
    )
    supervisor.install_signal_handlers()
    for name, command in read_procfile(ROOT / "Procfile.dev"):
        supervisor.add(name, command, tier=0 if name in FIRST else 1)
    demo = Demo(supervisor=supervisor, env=env, var_dir=var_dir, web_port=args.port, debug=debug)
    try:
        demo.run()
    except KeyboardInterrupt:
        supervisor.stop()
        return 130
    except Abort as exc:
        supervisor.say(str(exc), loud=True)
        supervisor.stop()
        return 1
    except BaseException:
        supervisor.stop()  # never leave the processes behind, whatever went wrong
        raise
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())

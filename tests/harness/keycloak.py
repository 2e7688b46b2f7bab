"""A real Keycloak for the sign-in tests, on loopback only.

The distribution is fetched once by scripts/fetch-keycloak.sh into
${SHIRUBE_KEYCLOAK_CACHE:-/var/cache/shirube-keycloak}/keycloak-<version>/. Each start
copies it into a throwaway folder (start-dev keeps its H2 database under data/, and
--import-realm skips a realm that already exists), writes the realm JSON it is given into
data/import/, and runs `kc.sh start-dev --import-realm` on a free loopback port with a
bootstrap admin for the admin REST API.

    with Keycloak(realm=realm_json) as kc:
        kc.admin("GET", "/users")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.harness.kube_apiserver import _die_with_parent, _tail
from tests.harness.servers import ServerError, free_port

VERSION = "26.4.0"
DEFAULT_CACHE = "/var/cache/shirube-keycloak"
FETCH_HINT = "run scripts/fetch-keycloak.sh"
# Keycloak needs Java 17 or newer: the machine's default java, or the Temurin JDK beside it.
JAVA_HOMES = ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/temurin-25-jdk-amd64")


def _new_group_dying_with_parent() -> None:
    os.setsid()
    _die_with_parent()


def _group_gone(leader: subprocess.Popen, sig: int, wait: float) -> bool:
    """Send `sig` to the leader's process group; whether all of it ended within `wait` seconds."""
    deadline = time.monotonic() + wait
    try:
        os.killpg(leader.pid, sig)
        while time.monotonic() < deadline:
            leader.poll()  # reap the leader: a zombie would still count as a member
            os.killpg(leader.pid, 0)
            time.sleep(0.2)
    except ProcessLookupError:
        return True
    return False


class KeycloakMissing(ServerError):
    """The distribution is not in the cache, or no Java can run it."""


def distribution() -> Path:
    cache = Path(os.environ.get("SHIRUBE_KEYCLOAK_CACHE") or DEFAULT_CACHE)
    dist = cache / f"keycloak-{VERSION}"
    if not (dist / "bin" / "kc.sh").is_file():
        raise KeycloakMissing(f"Keycloak {VERSION} is not in {cache}: {FETCH_HINT}")
    return dist


def _java_env() -> dict[str, str]:
    env = dict(os.environ)
    if env.get("JAVA_HOME") or shutil.which("java"):
        return env
    for home in JAVA_HOMES:
        if (Path(home) / "bin" / "java").is_file():
            env["JAVA_HOME"] = home
            return env
    raise KeycloakMissing("no Java found to run Keycloak (install a JDK 17 or newer)")


class Keycloak:
    """One Keycloak server with one imported realm; `admin()` calls its admin REST API."""

    def __init__(self, *, realm: dict, start_timeout: float = 180.0) -> None:
        self.dist = distribution()
        self.env = _java_env()
        self.realm_name = realm["realm"]
        self.realm = realm
        self.start_timeout = start_timeout
        self.port = free_port()
        self.admin_user = "kc-admin"
        self.admin_password = secrets.token_urlsafe(16)
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.timings: dict[str, float] = {}
        self._admin_token: tuple[str, float] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{self.realm_name}"

    @property
    def log(self) -> Path:
        assert self.root is not None
        return self.root / "keycloak.log"

    def __enter__(self) -> Keycloak:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Keycloak:
        began = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="shirube-keycloak-"))
        home = self.root / "keycloak"
        try:
            shutil.copytree(self.dist, home, symlinks=True)
            self.timings["copy"] = time.monotonic() - began
            imports = home / "data" / "import"
            imports.mkdir(parents=True)
            (imports / f"{self.realm_name}-realm.json").write_text(json.dumps(self.realm))
            env = {
                **self.env,
                "KC_BOOTSTRAP_ADMIN_USERNAME": self.admin_user,
                "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
                # A small heap: the machine is shared with the rest of the suite.
                "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
            }
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    [str(home / "bin" / "kc.sh"), "start-dev", "--http-host", "127.0.0.1",
                     "--http-port", str(self.port), "--http-management-port", str(free_port()),
                     "--import-realm"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=home, env=env,
                    preexec_fn=_new_group_dying_with_parent,
                )  # fmt: skip
            self._wait_until_ready()
            self.timings["total"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(
                    f"Keycloak exited with code {self.proc.returncode}\n--- log (tail) ---\n{_tail(self.log)}"
                )
            try:
                with urllib.request.urlopen(discovery, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise ServerError(
            f"Keycloak did not answer within {self.start_timeout:.0f} s\n--- log (tail) ---\n{_tail(self.log)}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            # kc.sh runs java as its child: signal the whole group, or java outlives the script.
            for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
                if _group_gone(self.proc, sig, wait):
                    break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1)
        self.proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- the admin REST API -------------------------------------------------------------

    def _token(self) -> str:
        if self._admin_token and self._admin_token[1] > time.monotonic():
            return self._admin_token[0]
        body = urllib.parse.urlencode(
            {"grant_type": "password", "client_id": "admin-cli", "username": self.admin_user,
             "password": self.admin_password}
        ).encode()  # fmt: skip
        request = urllib.request.Request(f"{self.url}/realms/master/protocol/openid-connect/token", body)
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        self._admin_token = (answer["access_token"], time.monotonic() + answer["expires_in"] - 10)
        return self._admin_token[0]

    def admin(self, method: str, path: str, body: object = None):
        """Call /admin/realms/<realm><path>; the decoded JSON answer, or None when there is none."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/admin/realms/{self.realm_name}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def user_id(self, username: str) -> str:
        return self.admin("GET", f"/users?exact=true&username={urllib.parse.quote(username)}")[0]["id"]

    def group_id(self, path: str) -> str:
        return self.admin("GET", f"/group-by-path/{path.lstrip('/')}")["id"]

    def group_add(self, username: str, path: str) -> None:
        self.admin("PUT", f"/users/{self.user_id(username)}/groups/{self.group_id(path)}")

    def group_remove(self, username: str, path: str) -> None:
        self.admin("DELETE", f"/users/{self.user_id(username)}/groups/{self.group_id(path)}")

    def sessions(self, username: str) -> list[dict]:
        return self.admin("GET", f"/users/{self.user_id(username)}/sessions")

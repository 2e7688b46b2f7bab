"""Running git: one repository's bare clone cache, a clean environment with its credentials, and
the checks that keep a URL, a branch or a path from making git do anything else.

Every git command goes through `Git`, which checks the repository again; commits
are built with plumbing (read-tree / hash-object / commit-tree), so there is no
work tree to leave half-edited. Credentials are files: an SSH key with its
known_hosts, or an HTTPS token sent as a header scoped to the repository's origin.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from apps.environments.gitops.errors import (
    CredentialsError,
    GitOpsError,
    InvalidYaml,
    KustomizationMissing,
    RepositoryRefused,
    RepoUnreachable,
)

COMMITTER_NAME = "Shirube"


COMMITTER_EMAIL = "shirube@localhost"


DEFAULT_TIMEOUT = 60.0


DEFAULT_LOCK_TIMEOUT = 300.0


# How often a waiting writer calls its `heartbeat`: while git runs and while it waits for the lock.
HEARTBEAT_SECONDS = 5.0


# A caller's `heartbeat()` says the writer is alive (and may raise to stop it, killing the running git).
Heartbeat = Callable[[], None]


@dataclass(frozen=True)
class RepoSpec:
    """Where a GitOps repository lives and how to reach it (credentials are file paths)."""

    url: str
    branch: str
    workdir: Path | str
    ssh_key_file: Path | str | None = None
    known_hosts_file: Path | str | None = None
    token_file: Path | str | None = None
    token_username: str = "x-access-token"
    # Local paths and file:// reach any repository on the worker's disk: demo and tests only.
    allow_local: bool = False


def repo_url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why git must not be given this repository URL, or None.

    git reads an argument starting with '-' as an option (`--upload-pack=<command>`
    runs the command), `<helper>::` as a remote helper (`ext::` runs one), and a
    local path as any repository on the worker's disk. So only https://, ssh://
    and scp-like `user@host:path` pass, with a plain host name and no whitespace
    or control characters; local paths and file:// only when allowed.
    """
    if not isinstance(url, str) or not url:
        return "The repository URL is refused: it is empty (give https://, ssh:// or git@host:path)."
    shown = _scrub_url(url)[:200].encode("unicode_escape").decode()
    if _UNSAFE_CHARS.search(url):
        return f"The repository URL {shown} is refused: it contains whitespace or control characters."
    if url.startswith("-"):
        return f"The repository URL {shown} is refused: it starts with '-', which git reads as an option."
    if len(url) > 500:
        return "The repository URL is refused: it is longer than 500 characters."
    if "://" in url:
        parts = urlsplit(url)
        scheme = url.partition("://")[0]  # as written: urlsplit would lower-case it, git does not
        if scheme == "file":
            if not allow_local:
                return _local_refused(shown)
            if parts.netloc or not parts.path.startswith("/") or parts.query or parts.fragment:
                return (
                    f"The repository URL {shown} is refused: "
                    "a file:// URL names an absolute path, as in file:///srv/gitops.git."
                )
            return None
        if scheme not in ("https", "ssh"):
            return (
                f"The repository URL {shown} is refused: use https://, ssh:// or git@host:path "
                f"({scheme or 'this scheme'} is not allowed; plain http and git:// are not encrypted)."
            )
        try:
            host, user = parts.hostname or "", parts.username
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            host, user = "", None
        if (
            not _HOST.fullmatch(host)
            or (user is not None and not _USER.fullmatch(user))
            or parts.query
            or parts.fragment
            or not _PATH.fullmatch(parts.path)
        ):
            return f"The repository URL {shown} is refused: expected {scheme}://[user@]host[:port]/path."
        if parts.password:
            return f"The repository URL {shown} is refused: it carries a password; use a token file instead."
        return None
    if scp := _SCP_LIKE.fullmatch(url):
        if scp["path"].startswith("-"):
            return f"The repository URL {shown} is refused: its path starts with '-'."
        return None
    if url.startswith("/"):
        return None if allow_local else _local_refused(shown)
    return (
        f"The repository URL {shown} is refused: use https://host/path, ssh://host/path or "
        "git@host:path" + (" (or an absolute local path)." if allow_local else ".")
    )


def branch_problem(branch: str) -> str | None:
    """Why this is not a branch git would push to, or None: `git check-ref-format --branch`."""
    if not isinstance(branch, str) or not branch:
        return "The branch name is empty."
    shown = branch[:100].encode("unicode_escape").decode()
    if branch.startswith("-") or _UNSAFE_CHARS.search(branch) or "@{" in branch or len(branch) > 200:
        return f"'{shown}' is not a valid branch name."
    return _check_ref_format(branch)


def workdir_for(base_dir: Path | str, url: str, branch: str) -> Path:
    """The clone cache directory for one repository URL and branch under base_dir."""
    digest = hashlib.sha256(f"{url}\0{branch}".encode()).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    return Path(base_dir) / f"{name.strip('.-')[:40] or 'repo'}-{digest}"


@dataclass
class GitOutput:
    code: int
    raw: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.raw.decode(errors="replace")


def path_check(path: str) -> None:
    parts = Path(path).parts
    if not path or path.startswith("/") or ".." in parts or "\\" in path or "\0" in path:
        raise KustomizationMissing(f"{path!r} is not a relative path inside the repository.")


class Git:
    """git commands against one repository's bare clone cache, with a clean, credentialed environment."""

    def __init__(self, repo: RepoSpec, timeout: float, heartbeat: Heartbeat | None = None):
        repo_check(repo)  # again here: every path to git goes through this class
        self.repo = repo
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.workdir = Path(repo.workdir)
        self.secrets: list[str] = []
        self.safe_url = _scrub_url(repo.url)
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        repo = self.repo
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.workdir.parent),
            "LC_ALL": "C",
            "LANG": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": ":".join(_protocols(repo)),
            "GIT_COMMITTER_NAME": COMMITTER_NAME,
            "GIT_COMMITTER_EMAIL": COMMITTER_EMAIL,
        }
        for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"):
            if name in os.environ:
                env[name] = os.environ[name]
        for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO"):
            if name in os.environ:
                env[name] = os.environ[name]

        parts = urlsplit(repo.url) if "://" in repo.url else None
        if parts and parts.password:
            raise CredentialsError(
                f"The repository URL {self.safe_url} carries a password; put the token in token_file instead."
            )
        if _is_ssh(repo.url):
            if not repo.known_hosts_file or not Path(repo.known_hosts_file).is_file():
                raise CredentialsError(
                    f"Refusing to connect to {self.safe_url} over SSH without a known_hosts file "
                    "(host keys are never trusted on first use); set known_hosts_file."
                )
            ssh = [
                "ssh",
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                f"UserKnownHostsFile={repo.known_hosts_file}",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"ConnectTimeout={max(1, int(self.timeout))}",
            ]
            if repo.ssh_key_file:
                if not Path(repo.ssh_key_file).is_file():
                    raise CredentialsError(f"The SSH key file for {self.safe_url} does not exist.")
                ssh += ["-i", str(repo.ssh_key_file), "-o", "IdentitiesOnly=yes"]
            env["GIT_SSH_COMMAND"] = " ".join(shlex.quote(arg) for arg in ssh)
        elif repo.token_file:
            if not parts or parts.scheme != "https":
                raise CredentialsError(
                    f"A token is only sent over https; {self.safe_url} is not an https URL."
                )
            try:
                token = Path(repo.token_file).read_text().strip()
            except OSError as exc:
                raise CredentialsError(
                    f"Cannot read the token file for {self.safe_url}: {exc.strerror}."
                ) from None
            if not token or "\n" in token:
                raise CredentialsError(f"The token file for {self.safe_url} is empty or has several lines.")
            basic = base64.b64encode(f"{repo.token_username}:{token}".encode()).decode()
            self.secrets += [token, basic]
            # Through the environment (readable only by this user), never argv or the URL;
            # scoped to the repository's origin so a redirect elsewhere does not get it.
            origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"
            env["GIT_CONFIG_COUNT"] = "1"
            env["GIT_CONFIG_KEY_0"] = f"http.{origin}.extraHeader"
            env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
        return env

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return re.sub(r"(://)[^/@\s]*@", r"\1***@", text)

    def tail(self, stderr: str, lines: int = 8) -> str:
        kept = [line.strip() for line in stderr.splitlines() if line.strip()]
        return self.scrub(" | ".join(kept[-lines:])[-1500:]) or "(git printed nothing)"

    def run(
        self,
        args: list[str],
        *,
        step: str,
        git_dir: bool = True,
        input: bytes | None = None,
        env: dict | None = None,
    ) -> GitOutput:
        argv = ["git", *_protocol_config(self.repo)]
        argv += ["-c", "core.hooksPath=/dev/null", "-c", "gc.autoDetach=false"]
        if git_dir:
            argv.append(f"--git-dir={self.workdir}")
        argv += args
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir.parent,
                env={**self.env, **(env or {})},
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout also kills ssh / remote helpers
            )
        except OSError as exc:
            raise GitOpsError(step, f"Cannot run git: {exc.strerror}.") from None
        deadline = time.monotonic() + self.timeout
        while True:
            # Short waits, so the caller hears that we are alive while git runs (a push can
            # take the whole timeout); a heartbeat that raises stops git and us.
            wait = min(HEARTBEAT_SECONDS, max(0.0, deadline - time.monotonic()))
            try:
                stdout, stderr = proc.communicate(input, timeout=wait)
                break
            except subprocess.TimeoutExpired:
                input = None  # already sent: communicate() carries on from where it was
                if time.monotonic() >= deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.communicate()
                    late = f"git {args[0]} on {self.safe_url} did not finish within {self.timeout:g} seconds."
                    raise GitOpsError(step, late) from None
                if self.heartbeat:
                    try:
                        self.heartbeat()
                    except BaseException:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.communicate()
                        raise
        return GitOutput(proc.returncode, stdout, stderr.decode(errors="replace"))

    def check(self, args: list[str], *, step: str, **kwargs) -> str:
        out = self.run(args, step=step, **kwargs)
        if out.code != 0:
            raise GitOpsError(step, f"git {args[0]} failed: {self.tail(out.stderr)}")
        return out.stdout

    def ensure(self) -> None:
        if (self.workdir / "HEAD").is_file():
            probe = self.run(["rev-parse", "--is-bare-repository"], step="fetch")
            if probe.code == 0 and probe.stdout.strip() == "true":
                return
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.check(
            ["init", "--quiet", "--bare", "--end-of-options", str(self.workdir)], step="fetch", git_dir=False
        )

    def fetch(self) -> str:
        """Fetch the branch into refs/remotes/origin/<branch> and return its sha."""
        self.ensure()
        ref = f"refs/remotes/origin/{self.repo.branch}"
        out = self.run(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--end-of-options",
                self.repo.url,
                f"+refs/heads/{self.repo.branch}:{ref}",
            ],
            step="fetch",
        )
        if out.code != 0:
            if "couldn't find remote ref" in out.stderr:
                raise RepoUnreachable(f"Branch {self.repo.branch!r} does not exist in {self.safe_url}.")
            raise RepoUnreachable(f"Could not fetch {self.safe_url}: {self.tail(out.stderr)}")
        return self.check(
            ["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], step="fetch"
        ).strip()

    def read_blob(self, commit: str, path: str) -> tuple[str, bytes] | None:
        out = self.check(["ls-tree", "-z", "--end-of-options", commit, "--", path], step="read")
        entry = out.rstrip("\0")
        if not entry:
            return None
        meta, _, found = entry.partition("\t")
        mode, kind, oid = meta.split()
        if found != path or kind != "blob" or mode not in ("100644", "100755"):
            return None
        return mode, self.run(["cat-file", "--end-of-options", "blob", oid], step="read").raw

    def read_text(self, commit: str, path: str) -> tuple[str, str]:
        found = self.read_blob(commit, path)
        if found is None:
            raise KustomizationMissing(
                f"There is no kustomization file at {path} on {self.repo.branch} in {self.safe_url} "
                f"(commit {commit[:12]})."
            )
        mode, data = found
        try:
            return mode, data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidYaml(f"The kustomization {path} is not UTF-8 text (byte {exc.start}).") from None

    def commit(
        self, parent: str, path: str, mode: str, text: str, author: tuple[str, str], message: str
    ) -> str:
        blob = self.check(
            ["hash-object", "-w", "--stdin", "--no-filters"], step="commit", input=text.encode()
        )
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.check(["read-tree", "--end-of-options", parent], step="commit", env=index)
            self.check(
                ["update-index", "--cacheinfo", f"{mode},{blob.strip()},{path}"], step="commit", env=index
            )
            tree = self.check(["write-tree"], step="commit", env=index).strip()
        names = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
        return self.check(
            ["commit-tree", "-p", parent, "-F", "-", "--end-of-options", tree],
            step="commit",
            input=message.encode(),
            env=names,
        ).strip()

    def merge(self, base: str, ours: str, theirs: str) -> str | None:
        """Three-way merge of one file's texts (git merge-file); None on conflict."""
        if ours == base:
            return theirs
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            files = []
            for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
                file = Path(tmp) / name
                file.write_bytes(text.encode())
                files.append(str(file))
            out = self.run(["merge-file", "-p", "--quiet", "--", *files], step="push", git_dir=False)
        return out.raw.decode() if out.code == 0 else None

    def push(self, commit: str) -> tuple[str, str]:
        """Push commit to the branch: ("ok"|"race"|"rejected", reason)."""
        out = self.run(
            [
                "push",
                "--porcelain",
                "--no-verify",
                "--end-of-options",
                self.repo.url,
                f"{commit}:refs/heads/{self.repo.branch}",
            ],
            step="push",
        )
        if out.code == 0:
            return "ok", ""
        status = next((line for line in out.stdout.splitlines() if line.startswith("!\t")), "")
        reason = status.rsplit("\t", 1)[-1] if status else ""
        remote = [
            re.sub(r"\x1b\[[0-9;]*m", "", line[len("remote:") :]).strip()
            for line in out.stderr.splitlines()
            if line.startswith("remote:")
        ]
        remote_text = " | ".join(line for line in remote if line)
        if "[rejected]" in reason or (
            "[remote rejected]" in reason
            and re.search(r"failed to update ref|cannot lock ref", reason + remote_text)
        ):
            return "race", self.scrub(reason)
        if "[remote rejected]" in reason:
            said = f" The remote said: {remote_text}" if remote_text else ""
            return "rejected", self.scrub(f"{reason.removeprefix('[remote rejected] ').strip('()')}.{said}")
        raise GitOpsError("push", f"Could not push to {self.safe_url}: {self.tail(out.stderr)}")

    def diff(self, parent: str, commit: str) -> str:
        return self.check(
            ["diff", "--no-color", "--no-ext-diff", "--end-of-options", parent, commit], step="push"
        )


# Whitespace (which also ends an ssh or shell word) and every control character, Unicode's too.
_UNSAFE_CHARS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


# RFC 3986 path characters, without the quoting and escaping ones nobody's repository path needs.
_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


# scp-like `[user@]host:path`: a colon before any slash, and not `helper::address`.
_SCP_LIKE = re.compile(
    rf"(?:{_USER.pattern}@)?{_HOST.pattern}:(?P<path>[A-Za-z0-9._~!$&'()*+,;=@%/-][A-Za-z0-9._~!$&'()*+,;=:@%/-]*)"
)


def _local_refused(shown: str) -> str:
    return (
        f"The repository URL {shown} is refused: local repositories are allowed only when "
        "SHIRUBE_GIT_ALLOW_LOCAL is on (the demo and the tests)."
    )


@functools.lru_cache(maxsize=512)
def _check_ref_format(branch: str) -> str | None:
    # Outside any repository, with a clean configuration: nothing but the name decides.
    env = {"PATH": os.environ.get("PATH", os.defpath), "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CEILING_DIRECTORIES": "/", "LC_ALL": "C"}  # fmt: skip
    try:
        proc = subprocess.run(
            ["git", "check-ref-format", "--branch", branch],
            cwd="/", env=env, capture_output=True, timeout=DEFAULT_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitOpsError("config", f"Cannot run git to check the branch name: {exc}.") from None
    if proc.returncode != 0 or proc.stdout.decode(errors="replace").strip() != branch:
        return f"'{branch[:100]}' is not a valid branch name (git check-ref-format --branch)."
    return None


def repo_check(repo: RepoSpec) -> None:
    """Refuse a URL or branch that could do more than name a repository, before git or the disk is touched."""
    problem = repo_url_problem(repo.url, allow_local=repo.allow_local)
    if problem is None:
        branch = branch_problem(repo.branch)
        problem = f"The branch is refused: {branch}" if branch else None
    if problem:
        raise RepositoryRefused(problem)


def _protocols(repo: RepoSpec) -> list[str]:
    return ["https", "ssh", *(["file"] if repo.allow_local else [])]


def _protocol_config(repo: RepoSpec) -> list[str]:
    """Every transport off, then back on only for those permitted (git's own defence behind the URL check)."""
    config = ["-c", "protocol.allow=never"]
    for name in _protocols(repo):
        config += ["-c", f"protocol.{name}.allow=always"]
    return config


def _is_ssh(url: str) -> bool:
    if url.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        return True
    return "://" not in url and re.match(r"^(?:[^@/:]+@)?[^/:]+:", url) is not None


def _scrub_url(url: str) -> str:
    return re.sub(r"(://)[^/@\s]*@", r"\1***@", url) if "://" in url else url


@contextmanager
def clone_locked(workdir: Path, timeout: float, heartbeat: Heartbeat | None = None) -> Iterator[None]:
    """Serialise use of one clone cache across processes on this host (Celery workers)."""
    workdir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = workdir.parent / f"{workdir.name}.lock"
    with open(lock_path, "a") as handle:
        deadline = time.monotonic() + timeout
        beat = time.monotonic() + HEARTBEAT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitOpsError(
                        "lock",
                        f"Another deploy to this repository held its clone for over {timeout:g} seconds.",
                    ) from None
                if heartbeat and time.monotonic() > beat:
                    heartbeat()
                    beat = time.monotonic() + HEARTBEAT_SECONDS
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""The GitOps writer: the one module in Shirube that runs git.

It reads and edits the `images:` entry of a kustomization.yaml in a GitOps
repository, commits as the requesting user and pushes, retrying when others
push first. Everything comes in as arguments (no Django import) so the module
can be tested against real bare repositories on its own.

How it works, briefly (docs/gitops-writer.md has the reasoning):
- each repository+branch has a bare clone cache (`workdir_for`), guarded by an
  fcntl lock; commits are built with plumbing (read-tree / hash-object /
  commit-tree) so there is no work tree to leave half-edited;
- ruamel.yaml only *locates* the entry; the file is edited as text, line by
  line, and re-parsed to check that exactly the intended values changed;
- a non-fast-forward push is retried after a three-way merge of the one file
  (a rebase of our commit) or, when that conflicts, after re-applying the edit
  on the new head.
"""

from __future__ import annotations

import base64
import copy
import fcntl
import functools
import hashlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

logger = logging.getLogger(__name__)

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# A Flux policy reference: "<namespace>:<policy name>", both Kubernetes DNS names.
POLICY_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
# Flux setter markers: "<ns>:<policy>" (whole image ref) and the ":tag", ":name"
# and ":digest" variants that set one part of it.
MARKER_RE = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"(?P<setter>[^"]+)"\s*\}')

COMMITTER_NAME = "Shirube"
COMMITTER_EMAIL = "shirube@localhost"
DEFAULT_TIMEOUT = 60.0
DEFAULT_ATTEMPTS = 3
DEFAULT_LOCK_TIMEOUT = 300.0
# How often a waiting writer calls its `heartbeat`: while git runs and while it waits for the lock.
HEARTBEAT_SECONDS = 5.0

# Callbacks a caller can pass: `heartbeat()` says the writer is alive (and may raise to stop it,
# killing the running git); `before_push(sha, edit)` hears of each commit before it is pushed.
Heartbeat = Callable[[], None]
BeforePush = Callable[[str, "Edit"], None]

# Words some YAML loader (1.1 booleans, Go's yaml.v2) reads as non-strings.
_NON_STRING_WORDS = {
    *("y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity"),
}


# --- data -------------------------------------------------------------------


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


@dataclass(frozen=True)
class ImageEntry:
    """One `images:` entry as it stands at `sha`."""

    sha: str
    path: str
    name: str
    new_name: str | None
    new_tag: str | None
    digest: str | None
    policy: str | None  # "payments:checkout-api" when the newTag line has a setter marker
    follows_automation: bool
    line: int  # 1-based line of the entry


@dataclass(frozen=True)
class CommitResult:
    sha: str  # the pushed commit, or the head that already had the wanted state
    diff: str
    changed: bool
    unpinned_policy: str | None = None
    removed_digest: str | None = None
    attempts: int = 0  # push attempts made
    how: str = "unchanged"  # "direct", "rebased", "reapplied" or "unchanged"


@dataclass(frozen=True)
class Edit:
    """The outcome of editing a kustomization text."""

    text: str
    changed: bool
    unpinned_policy: str | None = None
    removed_digest: str | None = None


# --- errors -----------------------------------------------------------------


class GitOpsError(Exception):
    """A failed GitOps operation; `step` says where: fetch, read, edit, commit, push, lock, credentials."""

    def __init__(self, step: str, message: str):
        super().__init__(message)
        self.step = step
        self.message = message

    def __str__(self) -> str:
        return self.message


class RepositoryRefused(GitOpsError):
    """The URL or branch could make git do something other than fetch and push this repository."""

    def __init__(self, message: str):
        super().__init__("config", message)


class CredentialsError(GitOpsError):
    def __init__(self, message: str):
        super().__init__("credentials", message)


class RepoUnreachable(GitOpsError):
    def __init__(self, message: str):
        super().__init__("fetch", message)


class KustomizationMissing(GitOpsError):
    def __init__(self, message: str):
        super().__init__("read", message)


class InvalidYaml(GitOpsError):
    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__("read", message)
        self.line = line
        self.column = column


class NoImagesList(GitOpsError):
    def __init__(self, message: str):
        super().__init__("read", message)


class ImageNotFound(GitOpsError):
    def __init__(self, message: str, images: list[str]):
        super().__init__("read", message)
        self.images = images


class InvalidTag(GitOpsError):
    def __init__(self, message: str):
        super().__init__("edit", message)


class UneditableEntry(GitOpsError):
    """The entry is written in a way the line editor refuses to touch (flow style, block scalars...)."""

    def __init__(self, message: str):
        super().__init__("edit", message)


class PushRejected(GitOpsError):
    def __init__(self, message: str, reason: str):
        super().__init__("push", message)
        self.reason = reason


class PushGaveUp(GitOpsError):
    def __init__(self, message: str, attempts: int):
        super().__init__("push", message)
        self.attempts = attempts


# --- public API -------------------------------------------------------------


def tag_valid(tag: str) -> bool:
    return isinstance(tag, str) and TAG_PATTERN.fullmatch(tag) is not None


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


def head_sha(repo: RepoSpec, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The branch head on the remote (git ls-remote: no clone, no lock)."""
    git = _Git(repo, timeout)
    out = git.run(
        ["ls-remote", "--heads", "--end-of-options", repo.url, f"refs/heads/{repo.branch}"],
        step="fetch",
        git_dir=False,
    )
    if out.code != 0:
        raise RepoUnreachable(f"Could not reach {git.safe_url}: {git.tail(out.stderr)}")
    for line in out.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{repo.branch}":
            return sha
    raise RepoUnreachable(f"Branch {repo.branch!r} does not exist in {git.safe_url}.")


def commit_landed(
    repo: RepoSpec,
    *,
    sha: str,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    heartbeat: Heartbeat | None = None,
) -> bool:
    """Whether the commit is on the branch now (it or a descendant is the remote head).

    For a writer that died after handing a commit to `git push`: the push may have
    landed, or may still land later (an orphaned push); either way the remote decides.
    """
    if not re.fullmatch(r"[0-9a-f]{40}", sha or ""):
        raise GitOpsError("fetch", f"{sha!r} is not a commit id.")
    _check_repo(repo)
    with _locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = _Git(repo, timeout, heartbeat)
        head = git.fetch()
        if git.run(["cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}"], step="fetch").code != 0:
            return False  # not fetched, so not on the branch (and never made here, or gone with the cache)
        out = git.run(["merge-base", "--is-ancestor", "--end-of-options", sha, head], step="fetch")
        if out.code not in (0, 1):
            raise GitOpsError("fetch", f"git merge-base failed: {git.tail(out.stderr)}")
        return out.code == 0


def image_read(
    repo: RepoSpec,
    *,
    path: str,
    image: str,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    heartbeat: Heartbeat | None = None,
) -> ImageEntry:
    """Fetch the branch and return the image's entry in the kustomization at path."""
    _check_path(path)
    _check_repo(repo)
    with _locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = _Git(repo, timeout, heartbeat)
        head = git.fetch()
        _mode, text = git.read_text(head, path)
    return entry_read(text, image=image, sha=head, path=path)


def image_set_tag(
    repo: RepoSpec,
    *,
    path: str,
    image: str,
    tag: str,
    author_name: str,
    author_email: str,
    message: str,
    attempts: int = DEFAULT_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    expect_tag: str | None = None,
    heartbeat: Heartbeat | None = None,
    before_push: BeforePush | None = None,
) -> CommitResult:
    """Set the image's newTag, pinning it (marker and digest removed); commit as the author and push.

    With `expect_tag`, refuse (step "edit", nothing committed) unless git still has that tag:
    a pin must take the marker off without changing what runs.
    """
    if not tag_valid(tag):
        raise InvalidTag(
            f"{tag!r} is not a valid image tag: it must match {TAG_PATTERN.pattern} "
            "(letters, digits, '_', '.', '-'; at most 128 characters; not starting with '.' or '-')."
        )

    def edit(text: str) -> Edit:
        if expect_tag is not None:
            current = entry_read(text, image=image, path=path).new_tag
            if current != expect_tag:
                raise GitOpsError(
                    "edit",
                    f"Git has {image} at {current}, not {expect_tag}: it moved since the page was read. "
                    "Nothing was committed; read the page again.",
                )
        return edit_set_tag(text, image=image, tag=tag)

    return _write(
        repo,
        path=path,
        edit=edit,
        author=(author_name, author_email),
        message=message,
        attempts=attempts,
        timeout=timeout,
        lock_timeout=lock_timeout,
        heartbeat=heartbeat,
        before_push=before_push,
    )


def image_follow_automation(
    repo: RepoSpec,
    *,
    path: str,
    image: str,
    policy: str,
    author_name: str,
    author_email: str,
    message: str,
    attempts: int = DEFAULT_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    heartbeat: Heartbeat | None = None,
    before_push: BeforePush | None = None,
) -> CommitResult:
    """Put the `{"$imagepolicy": "<policy>:tag"}` marker back on the newTag line; commit and push."""
    policy = _check_policy(policy)
    return _write(
        repo,
        path=path,
        edit=lambda text: edit_follow_automation(text, image=image, policy=policy),
        author=(author_name, author_email),
        message=message,
        attempts=attempts,
        timeout=timeout,
        lock_timeout=lock_timeout,
        heartbeat=heartbeat,
        before_push=before_push,
    )


# --- text level: locate with ruamel, edit lines, verify ---------------------


def entry_read(text: str, *, image: str, sha: str = "", path: str = "") -> ImageEntry:
    """The image's entry in a kustomization text."""
    doc = _load(text, path)
    _, item = _find_entry(doc, image, path)
    lines = _split_lines(text)
    new_tag = item.get("newTag")
    policy = None
    if "newTag" in item and not _is_flow(doc, item):
        try:
            field = _field(lines, item, "newTag")
        except UneditableEntry:
            pass  # an unusual value (block scalar, alias...): report what YAML reads, without a marker
        else:
            new_tag = _unquote(field)
            setter = _marker(field.comment)
            policy = _policy_of(setter) if setter else None

    def _str(value: object) -> str | None:
        return None if value is None else str(value)

    return ImageEntry(
        sha=sha,
        path=path,
        name=str(item["name"]),
        new_name=_str(item.get("newName")),
        new_tag=_str(new_tag),
        digest=_str(item.get("digest")),
        policy=policy,
        follows_automation=policy is not None,
        line=item.lc.line + 1,
    )


def edit_set_tag(text: str, *, image: str, tag: str) -> Edit:
    """Set newTag on the image's entry, dropping its setter marker and digest; only those lines change."""
    if not tag_valid(tag):
        raise InvalidTag(f"{tag!r} is not a valid image tag (must match {TAG_PATTERN.pattern}).")
    doc = _load(text)
    index, item = _find_entry(doc, image)
    _refuse_flow(doc, item, image)
    lines = _split_lines(text)
    unpinned = removed_digest = None
    # Locate every line first: inserting or deleting lines shifts the ones below.
    tag_field = _field(lines, item, "newTag") if "newTag" in item else None
    name_field = _field(lines, item, "name")
    digest_field = _field(lines, item, "digest") if "digest" in item else None
    if digest_field and lines[digest_field.line][0][: item.lc.key("digest")[1]].strip():
        raise UneditableEntry(
            f"The entry for {image} starts with its digest (line {digest_field.line + 1}); "
            "Shirube removes digest lines only when `name:` comes first. Reorder the entry."
        )

    if tag_field:
        comment = tag_field.comment
        setter = _marker(comment)
        if setter:
            unpinned = _policy_of(setter)
            comment = _drop_marker(comment)
        raw = tag_field.raw if _unquote(tag_field) == tag else _format_scalar(tag, tag_field.style)
        lines[tag_field.line][0] = tag_field.prefix + raw + comment

    def insert_tag() -> None:
        line = name_field.line
        indent = " " * item.lc.key("name")[1]
        new_line = [f"{indent}newTag: {_format_scalar(tag, '')}", lines[line][1]]
        lines[line][1] = lines[line][1] or _dominant_ending(lines)
        lines.insert(line + 1, new_line)

    def delete_digest() -> None:
        _delete_line(lines, digest_field.line)

    ops = []
    if not tag_field:
        ops.append((name_field.line, insert_tag))
    if digest_field:
        removed_digest = str(item["digest"])
        ops.append((digest_field.line, delete_digest))
    for _, op in sorted(ops, key=lambda pair: pair[0], reverse=True):
        op()

    new_text = _join_lines(lines)
    expected = _plain(doc)
    expected_entry = expected["images"][index]
    expected_entry["newTag"] = tag
    expected_entry.pop("digest", None)
    _verify(new_text, expected, index, image, tag=tag, marker=None)
    return Edit(new_text, new_text != text, unpinned, removed_digest)


def edit_follow_automation(text: str, *, image: str, policy: str) -> Edit:
    """Put the Flux setter marker for policy on the image's newTag line; drop a digest that overrides it."""
    policy = _check_policy(policy)
    doc = _load(text)
    index, item = _find_entry(doc, image)
    _refuse_flow(doc, item, image)
    if "newTag" not in item:
        raise UneditableEntry(
            f"The entry for {image} has no newTag line to put the image policy marker on; set a tag first."
        )
    lines = _split_lines(text)
    field = _field(lines, item, "newTag")
    marker = f'# {{"$imagepolicy": "{policy}:tag"}}'
    comment = field.comment
    hash_at = comment.find("#")
    # The setter must be the whole line comment for Flux to see it, so it replaces any other comment.
    comment = comment[:hash_at] + marker if hash_at >= 0 else f" {marker}"
    lines[field.line][0] = field.prefix + field.raw + comment
    expected = _plain(doc)
    removed_digest = None
    if "digest" in item:
        digest_field = _field(lines, item, "digest")
        if (
            not _marker(digest_field.comment)
            and not lines[digest_field.line][0][: item.lc.key("digest")[1]].strip()
        ):
            # An unmanaged digest would override whatever tag automation writes.
            removed_digest = str(item["digest"])
            _delete_line(lines, digest_field.line)
            expected["images"][index].pop("digest")
    new_text = _join_lines(lines)
    _verify(new_text, expected, index, image, tag=None, marker=f"{policy}:tag")
    return Edit(new_text, new_text != text, None, removed_digest)


@dataclass
class _Field:
    line: int  # 0-based
    prefix: str  # the line up to the value
    raw: str  # the scalar as written, quotes included
    style: str  # "", "'" or '"'
    comment: str  # what follows the value: spaces and an optional comment


def _load(text: str, path: str = "") -> CommentedMap:
    where = f" {path}" if path else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        at = f" at line {line}, column {column}" if mark else ""
        raise InvalidYaml(
            f"The kustomization{where} is not valid YAML{at}: {problem}.", line, column
        ) from None
    except YAMLError as exc:
        raise InvalidYaml(f"The kustomization{where} is not valid YAML: {exc}.") from None
    if not isinstance(doc, CommentedMap):
        raise NoImagesList(f"The kustomization{where} is not a YAML mapping, so it has no images: list.")
    return doc


def _find_entry(doc: CommentedMap, image: str, path: str = "") -> tuple[int, CommentedMap]:
    where = f" {path}" if path else ""
    images = doc.get("images")
    if not isinstance(images, CommentedSeq):
        raise NoImagesList(
            f"The kustomization{where} has no images: list; add an entry for {image} with name and newTag."
        )
    names = [str(item.get("name")) for item in images if isinstance(item, CommentedMap) and "name" in item]
    matches = [
        (i, item)
        for i, item in enumerate(images)
        if isinstance(item, CommentedMap) and item.get("name") == image
    ]
    if not matches:
        present = ", ".join(names) if names else "none"
        raise ImageNotFound(
            f"The kustomization{where} has no images entry named {image}; images present: {present}.", names
        )
    if len(matches) > 1:
        lines = ", ".join(str(item.lc.line + 1) for _, item in matches)
        raise UneditableEntry(f"The kustomization{where} names {image} more than once (lines {lines}).")
    return matches[0]


def _is_flow(doc: CommentedMap, item: CommentedMap) -> bool:
    return bool(doc["images"].fa.flow_style() or item.fa.flow_style())


def _refuse_flow(doc: CommentedMap, item: CommentedMap, image: str) -> None:
    if _is_flow(doc, item):
        raise UneditableEntry(
            f"The entry for {image} (line {item.lc.line + 1}) is written in flow style "
            "({name: ..., newTag: ...}); Shirube edits block-style entries only, to keep the diff "
            "to the changed lines. Rewrite it as `- name: ...` with one key per line."
        )


def _split_lines(text: str) -> list[list[str]]:
    """[content, ending] pairs; only \\n ends a line, so CRLF endings survive as "\\r\\n"."""
    lines = []
    for chunk in re.split(r"(?<=\n)", text):
        if chunk:
            ending = "\r\n" if chunk.endswith("\r\n") else "\n" if chunk.endswith("\n") else ""
            lines.append([chunk[: len(chunk) - len(ending)], ending])
    return lines


def _join_lines(lines: list[list[str]]) -> str:
    return "".join(content + ending for content, ending in lines)


def _dominant_ending(lines: list[list[str]]) -> str:
    crlf = sum(1 for _, ending in lines if ending == "\r\n")
    return "\r\n" if crlf > len(lines) / 2 else "\n"


def _delete_line(lines: list[list[str]], index: int) -> None:
    if not lines[index][1] and index > 0:
        # The last line had no line break: keep it that way for the new last line.
        lines[index - 1][1] = ""
    del lines[index]


def _field(lines: list[list[str]], item: CommentedMap, key: str) -> _Field:
    """Find key's one-line scalar value in the text, from ruamel's line/column marks."""
    key_line, key_col = item.lc.key(key)
    value_line, value_col = item.lc.value(key)
    where = f"line {key_line + 1}"
    if key_line >= len(lines) or not lines[key_line][0][key_col:].startswith(key):
        raise UneditableEntry(f"Could not locate {key} on {where} (unusual line breaks in the file?).")
    content = lines[key_line][0]
    rest = content[value_col:] if value_line == key_line else ""
    if not rest or rest[0] in "|>&*!{[":
        raise UneditableEntry(f"{key} on {where} is not a simple one-line value; Shirube will not edit it.")
    if rest[0] in "\"'":
        quote, i = rest[0], 1
        while i < len(rest):
            escaped = quote == '"' and rest[i] == "\\"
            doubled = quote == "'" and rest[i : i + 2] == "''"
            if escaped or doubled:
                i += 2
            elif rest[i] == quote:
                break
            else:
                i += 1
        raw = rest[: i + 1]
        style = quote
    else:
        comment_at = re.search(r"[ \t]#", rest)
        raw = rest[: comment_at.start() if comment_at else len(rest)].rstrip(" \t")
        style = ""
    comment = rest[len(raw) :]
    if not re.fullmatch(r"([ \t]*|[ \t]+#.*)", comment) or _scalar(raw) != item[key]:
        raise UneditableEntry(f"{key} on {where} is not a simple one-line value; Shirube will not edit it.")
    return _Field(key_line, content[:value_col], raw, style, comment)


def _scalar(raw: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return YAML(typ="rt").load(f"v: {raw}\n")["v"]
    except YAMLError:
        return object()  # matches nothing


def _unquote(field: _Field) -> str:
    return str(_scalar(field.raw)) if field.style else field.raw


def _needs_quotes(tag: str) -> bool:
    """Whether a YAML 1.1 or 1.2 loader (or Go's yaml) would read the bare tag as a non-string."""
    if tag.lower() in _NON_STRING_WORDS:
        return True
    for version in ("1.1", "1.2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = YAML(typ="safe", pure=True).load(f"%YAML {version}\n---\nv: {tag}\n")["v"]
        if not isinstance(value, str):
            return True
    for parse in (float, lambda s: int(s, 0)):
        try:
            parse(tag)
        except ValueError:
            continue
        return True
    return False


def _format_scalar(tag: str, style: str) -> str:
    """The tag as YAML text: keeps the entry's quoting style, quotes when a loader would not read a string."""
    if style == "'":
        return f"'{tag}'"
    if style == '"' or _needs_quotes(tag):
        return f'"{tag}"'
    return tag


def _marker(comment: str) -> str | None:
    match = MARKER_RE.search(comment)
    return match["setter"] if match else None


def _policy_of(setter: str) -> str:
    parts = setter.split(":")
    if len(parts) == 3 and parts[2] in ("tag", "name", "digest"):
        parts = parts[:2]
    return ":".join(parts)


def _drop_marker(comment: str) -> str:
    """Remove the setter from a line comment, and the comment if nothing else is left in it."""
    hash_at = comment.find("#")
    before, text = comment[:hash_at], comment[hash_at:]
    left = MARKER_RE.sub("", text).strip()
    if not left or left == "#":
        return ""
    return before + ("# " + left.lstrip("#").strip())


def _check_policy(policy: str) -> str:
    policy = policy.strip().removesuffix(":tag")
    if not POLICY_PATTERN.fullmatch(policy):
        raise GitOpsError(
            "edit", f"{policy!r} is not an image policy reference; expected <namespace>:<policy name>."
        )
    return policy


def _plain(node: object) -> object:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return copy.deepcopy(node)


def _verify(
    text: str, expected: object, index: int, image: str, *, tag: str | None, marker: str | None
) -> None:
    """Re-parse the edited text: exactly the intended values changed, or fail loudly."""
    try:
        doc = _load(text)
    except GitOpsError as exc:
        raise GitOpsError(
            "edit", f"Editing {image} produced invalid YAML ({exc}); nothing was committed."
        ) from None
    problems = []
    if _plain(doc) != expected:
        problems.append("the parsed document differs from the intended one")
    item = doc["images"][index]
    if tag is not None and not (isinstance(item.get("newTag"), str) and item["newTag"] == tag):
        problems.append(f"newTag reads as {item.get('newTag')!r}")
    field = _field(_split_lines(text), item, "newTag")
    if _marker(field.comment) != marker:
        problems.append("the image policy marker is not as intended")
    if problems:
        raise GitOpsError(
            "edit",
            f"Editing {image} did not give the intended result ({'; '.join(problems)}); "
            "nothing was committed.",
        )


# --- git --------------------------------------------------------------------


@dataclass
class _Out:
    code: int
    raw: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        return self.raw.decode(errors="replace")


def _check_path(path: str) -> None:
    parts = Path(path).parts
    if not path or path.startswith("/") or ".." in parts or "\\" in path or "\0" in path:
        raise KustomizationMissing(f"{path!r} is not a relative path inside the repository.")


class _Git:
    """git commands against one repository's bare clone cache, with a clean, credentialed environment."""

    def __init__(self, repo: RepoSpec, timeout: float, heartbeat: Heartbeat | None = None):
        _check_repo(repo)  # again here: every path to git goes through this class
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
    ) -> _Out:
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
        return _Out(proc.returncode, stdout, stderr.decode(errors="replace"))

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


def _check_repo(repo: RepoSpec) -> None:
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
def _locked(workdir: Path, timeout: float, heartbeat: Heartbeat | None = None) -> Iterator[None]:
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


def _check_author(name: str, email: str) -> None:
    for label, value in (("author name", name), ("author email", email)):
        if not value or not value.strip() or re.search(r"[<>\n\r\0]", value):
            raise GitOpsError("commit", f"The {label} {value!r} cannot be used in a git commit.")


def _commit_message(message: str, edit: Edit) -> str:
    notes = []
    if edit.unpinned_policy:
        notes.append(
            f"Pinned: removed the image policy marker {edit.unpinned_policy}; "
            '"Follow automation again" restores it.'
        )
    if edit.removed_digest:
        notes.append(f"Removed digest {edit.removed_digest}: a digest overrides the tag.")
    return message.strip() + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def _write(
    repo: RepoSpec,
    *,
    path: str,
    edit: Callable[[str], Edit],
    author: tuple[str, str],
    message: str,
    attempts: int,
    timeout: float,
    lock_timeout: float,
    heartbeat: Heartbeat | None = None,
    before_push: BeforePush | None = None,
) -> CommitResult:
    """Fetch, edit, commit, push; on a race rebase (or re-apply) and retry. Nothing lands by halves."""
    _check_path(path)
    _check_repo(repo)
    _check_author(*author)
    if not message.strip():
        raise GitOpsError("commit", "The commit message is empty.")
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    with _locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = _Git(repo, timeout, heartbeat)
        head = git.fetch()
        mode, text = git.read_text(head, path)
        result = edit(text)
        if not result.changed:
            return CommitResult(sha=head, diff="", changed=False)
        full_message = _commit_message(message, result)
        commit = git.commit(head, path, mode, result.text, author, full_message)
        how = "direct"
        reason = ""
        for attempt in range(1, attempts + 1):
            if before_push:
                before_push(commit, result)
            status, reason = git.push(commit)
            if status == "ok":
                logger.info("gitops: pushed %s to %s %s (%s)", commit[:12], git.safe_url, repo.branch, how)
                return CommitResult(
                    sha=commit,
                    diff=git.diff(head, commit),
                    changed=True,
                    unpinned_policy=result.unpinned_policy,
                    removed_digest=result.removed_digest,
                    attempts=attempt,
                    how=how,
                )
            if status == "rejected":
                raise PushRejected(f"{git.safe_url} refused the push to {repo.branch}: {reason}", reason)
            if attempt == attempts:
                break
            logger.info("gitops: push to %s raced (%s); retrying", git.safe_url, reason)
            new_head = git.fetch()
            new_mode, new_text = git.read_text(new_head, path)
            merged = git.merge(text, new_text, result.text)
            if merged is not None and _already_done(edit, merged):
                commit = git.commit(new_head, path, new_mode, merged, author, full_message)
                how = "rebased"
                text, result = new_text, Edit(merged, True, result.unpinned_policy, result.removed_digest)
            else:
                # The rebase conflicted (or merged into something else): the edit is idempotent,
                # so apply it afresh on the new head.
                result = edit(new_text)
                if not result.changed:
                    return CommitResult(sha=new_head, diff="", changed=False, attempts=attempt)
                full_message = _commit_message(message, result)
                commit = git.commit(new_head, path, new_mode, result.text, author, full_message)
                how = "reapplied"
                text = new_text
            head = new_head
        raise PushGaveUp(
            f"Pushing to {repo.branch} of {git.safe_url} gave up after {attempts} attempts "
            f"because others kept pushing first (last: {reason}). Nothing was committed; try again.",
            attempts,
        )


def _already_done(edit: Callable[[str], Edit], text: str) -> bool:
    try:
        return not edit(text).changed
    except GitOpsError:
        return False

"""The GitOps writer: read an image's entry, set its tag or give it back to automation, commit and push.

Each repository+branch has a bare clone cache (`workdir_for`), guarded by an
fcntl lock. A non-fast-forward push is retried after a three-way merge of the
one file (a rebase of our commit) or, when that conflicts, after re-applying the
edit on the new head. Everything comes in as arguments (no Django import), so it
is tested against real bare repositories on its own. docs/gitops-writer.md has
the reasoning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apps.environments.gitops.errors import GitOpsError, InvalidTag, PushGaveUp, PushRejected, RepoUnreachable
from apps.environments.gitops.git import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_TIMEOUT,
    Git,
    Heartbeat,
    RepoSpec,
    clone_locked,
    path_check,
    repo_check,
)
from apps.environments.gitops.kustomization import (
    TAG_PATTERN,
    Edit,
    ImageEntry,
    edit_follow_automation,
    edit_set_tag,
    entry_read,
    policy_check,
    tag_valid,
)

logger = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3


# A caller's `before_push(sha, edit)` hears of each commit before it is pushed.
BeforePush = Callable[[str, Edit], None]


@dataclass(frozen=True)
class CommitResult:
    sha: str  # the pushed commit, or the head that already had the wanted state
    diff: str
    changed: bool
    unpinned_policy: str | None = None
    removed_digest: str | None = None
    attempts: int = 0  # push attempts made
    how: str = "unchanged"  # "direct", "rebased", "reapplied" or "unchanged"


def head_sha(repo: RepoSpec, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The branch head on the remote (git ls-remote: no clone, no lock)."""
    git = Git(repo, timeout)
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
    repo_check(repo)
    with clone_locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = Git(repo, timeout, heartbeat)
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
    path_check(path)
    repo_check(repo)
    with clone_locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = Git(repo, timeout, heartbeat)
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
    policy = policy_check(policy)
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
    path_check(path)
    repo_check(repo)
    _check_author(*author)
    if not message.strip():
        raise GitOpsError("commit", "The commit message is empty.")
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    with clone_locked(Path(repo.workdir), lock_timeout, heartbeat):
        git = Git(repo, timeout, heartbeat)
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

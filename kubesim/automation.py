"""image-automation-controller for mapped local bare repositories, so that staging follows new images.

For each ImageUpdateAutomation whose GitRepository is mapped to a bare repository,
the `newTag` lines under `spec.update.path` that carry a setter marker
(`# {"$imagepolicy": "<namespace>:<policy>:tag"}`) get that ImagePolicy's latest
tag, in one commit by the automation's author pushed to its branch, as Flux's
controller does; a line without the marker (a pinned environment) is left alone.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from kubesim.flux import (
    AUTOMATIONS,
    GITREPOSITORIES,
    POLICIES,
    Schedule,
    object_key,
    reconciled,
    requested_at,
)
from kubesim.git import GitError, git_run
from kubesim.store import Store, timestamp

_TAG_LINE = re.compile(
    r"^(?P<key>\s*(?:-\s+)?newTag:[ \t]*)(?P<value>[^#\r\n]*?)(?P<gap>[ \t]+)"
    r'(?P<marker>#\s*\{\s*"\$imagepolicy"\s*:\s*"(?P<policy>[^":]+:[^":]+):tag"\s*\})(?P<end>[ \t]*\r?)$',
    re.MULTILINE,
)


def latest_tags(store: Store) -> dict[str, str]:
    """`namespace:name` of each ImagePolicy -> the tag it selected."""
    tags = {}
    for policy in store.list(POLICIES):
        status = policy.get("status") or {}
        tag = (status.get("latestRef") or {}).get("tag")
        if tag:
            tags[f"{policy['metadata']['namespace']}:{policy['metadata']['name']}"] = tag
    return tags


def setters_apply(text: str, tags: Mapping[str, str]) -> tuple[str, list[str]]:
    """The text with each marked newTag set to its policy's tag; and what changed ("policy: old -> new")."""
    changes = []

    def replace(match: re.Match) -> str:
        tag = tags.get(match["policy"])
        old = match["value"].strip().strip("'\"")
        if not tag or tag == old:
            return match[0]
        changes.append(f"{match['policy']}: {old} -> {tag}")
        return f"{match['key']}{tag}{match['gap']}{match['marker']}{match['end']}"

    return _TAG_LINE.sub(replace, text), changes


class ImageAutomationPlayer:
    """Runs each mapped ImageUpdateAutomation when due (see `kubesim.flux.Schedule`).

    `repos` maps `namespace/name` of a GitRepository to the path of a bare repository,
    as for `kubesim.gitops.GitOpsPlayer`; an automation runs when its source is mapped.
    """

    def __init__(
        self, store: Store, repos: Mapping[str, str | os.PathLike[str]], *, step_seconds: float = 5.0
    ) -> None:
        self.store = store
        self.repos = {key: Path(path).resolve() for key, path in repos.items()}
        self.schedule = Schedule(step_seconds)

    def step(self) -> list[str]:
        """Run what is due; returns the commits pushed."""
        try:
            automations = self.store.list(AUTOMATIONS)
        except LookupError:
            return []
        pushed = []
        for obj in automations:
            meta, spec = obj["metadata"], obj.get("spec") or {}
            ref = spec.get("sourceRef") or {}
            source = f"{ref.get('namespace') or meta['namespace']}/{ref.get('name')}"
            key = object_key(obj)
            if spec.get("suspend") or source not in self.repos or not self.schedule.due(key, obj):
                continue
            self.schedule.done(key, obj)
            try:
                sha = self._run(obj, self.repos[source], source)
            except GitError as exc:
                self._status(obj, ready=False, reason="GitOperationFailed", message=str(exc)[:500])
                continue
            if sha:
                pushed.append(sha)
        self.schedule.advance()
        return pushed

    def _branch(self, spec: dict, source: str) -> str:
        git = spec.get("git") or {}
        branch = (git.get("push") or {}).get("branch") or ((git.get("checkout") or {}).get("ref") or {}).get(
            "branch"
        )
        if branch:
            return branch
        namespace, name = source.split("/", 1)
        repository = self.store.get(GITREPOSITORIES, namespace, name) or {}
        return ((repository.get("spec") or {}).get("ref") or {}).get("branch") or "master"

    def _run(self, obj: dict, repo: Path, source: str) -> str | None:
        spec = obj["spec"]
        branch = self._branch(spec, source)
        head = git_run(str(repo), "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").strip()
        path = ((spec.get("update") or {}).get("path") or "./").strip("/").removeprefix("./").strip("/")
        listing = ["ls-tree", "-r", "--name-only", head] + ([f"{path}/"] if path and path != "." else [])
        files = [f for f in git_run(str(repo), *listing).splitlines() if f.endswith((".yaml", ".yml"))]
        tags = latest_tags(self.store)
        changed: dict[str, str] = {}
        summary: list[str] = []
        for file in files:
            text = git_run(str(repo), "show", f"{head}:{file}")
            new, changes = setters_apply(text, tags)
            if changes:
                changed[file], summary = new, summary + changes
        if not changed:
            self._status(obj, ready=True, reason="Succeeded", message="repository up-to-date")
            return None
        sha = self._commit(repo, branch, head, changed, spec, summary)
        message = f"committed and pushed commit '{sha}' to branch '{branch}'"
        self._status(obj, ready=True, reason="Succeeded", message=message, pushed=sha)
        return sha

    def _commit(
        self, repo: Path, branch: str, head: str, files: dict[str, str], spec: dict, summary: list
    ) -> str:
        """One commit on top of `head` without a work tree; the branch moves only if still at `head`."""
        author = ((spec.get("git") or {}).get("commit") or {}).get("author") or {}
        name, email = author.get("name", "fluxcdbot"), author.get("email", "fluxcdbot@example.com")
        identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                    "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="kubesim-automation-") as work:
            index = {"GIT_INDEX_FILE": str(Path(work) / "index")}
            git_run(str(repo), "read-tree", head, extra_env=index)
            for file, text in files.items():
                blob_file = Path(work) / "blob"
                blob_file.write_bytes(text.encode())
                blob = git_run(str(repo), "hash-object", "-w", str(blob_file)).strip()
                git_run(str(repo), "update-index", "--cacheinfo", f"100644,{blob},{file}", extra_env=index)
            tree = git_run(str(repo), "write-tree", extra_env=index).strip()
        message = "Update images\n\n" + "\n".join(f"- {line}" for line in summary)
        sha = git_run(str(repo), "commit-tree", tree, "-p", head, "-m", message, extra_env=identity).strip()
        # Compare-and-swap, like a push: someone who pushed meanwhile wins, and the next run retries.
        git_run(str(repo), "update-ref", f"refs/heads/{branch}", sha, head)
        return sha

    def _status(
        self, obj: dict, *, ready: bool, reason: str, message: str, pushed: str | None = None
    ) -> None:
        now = timestamp(datetime.now(UTC))
        requested = requested_at(obj)

        def write(current: dict) -> None:
            status = current.setdefault("status", {})
            status["lastAutomationRunTime"] = now
            if pushed:
                status["lastPushCommit"], status["lastPushTime"] = pushed, now
            generation = current["metadata"].get("generation", 1)
            reconciled(
                status, ready=ready, reason=reason, message=message, generation=generation,
                requested=requested,
            )  # fmt: skip

        meta = obj["metadata"]
        self.store.update(AUTOMATIONS, meta["namespace"], meta["name"], write)

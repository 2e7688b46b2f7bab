"""Git plumbing for the Flux players: run git on a local bare repository, without hooks or prompts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Who commits when no one else is named (the demo repository's first commit).
DEMO_AUTHOR = ("Platform Team", "platform@example.com")


class GitError(Exception):
    """git failed (its stderr is the message), or a repository or ref is not there."""


def git_run(git_dir: str | Path | None, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """Run git (on the bare repository `git_dir`) as the demo author; stdout, or GitError.

    A missing git or a hung one (30 s) is a GitError too, so callers handle one exception.
    """
    name, email = DEMO_AUTHOR
    # A GIT_DIR or GIT_INDEX_FILE inherited from a hook would point git elsewhere.
    local = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    inherited = {k: v for k, v in os.environ.items() if k not in local}
    env = {
        **inherited,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_TERMINAL_PROMPT": "0",
        **(extra_env or {}),
    }
    command = ["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"]
    if git_dir is not None:
        command += ["--git-dir", str(git_dir)]
    try:
        result = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitError(f"git {args[0]}: {error}") from None
    if result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed")
    return result.stdout


def commit_exists(repo: Path, sha: str) -> bool:
    """Whether the bare repository holds the commit `sha`."""
    try:
        git_run(repo, "cat-file", "-e", f"{sha}^{{commit}}")
    except GitError:
        return False
    return True

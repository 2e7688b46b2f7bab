"""The GitOps writer: the one place in Shirube that runs git (CONVENTIONS.md).

- errors.py: what can go wrong, by step;
- kustomization.py: reading and editing a kustomization's `images:` entry, as text;
- git.py: running git against a bare clone cache, with credentials, and the URL checks;
- writer.py: what the runner calls: read an entry, set a tag, follow automation, commit, push.

The names callers use are handed on here, so `gitops.image_set_tag` reads as what it is.
"""

from apps.environments.gitops.errors import (
    CredentialsError,
    GitOpsError,
    ImageNotFound,
    InvalidTag,
    InvalidYaml,
    KustomizationMissing,
    NoImagesList,
    PushGaveUp,
    PushRejected,
    RepositoryRefused,
    RepoUnreachable,
    UneditableEntry,
)
from apps.environments.gitops.git import (
    HEARTBEAT_SECONDS,
    Heartbeat,
    RepoSpec,
    branch_problem,
    repo_url_problem,
    workdir_for,
)
from apps.environments.gitops.kustomization import TAG_PATTERN, Edit, ImageEntry, entry_read, tag_valid
from apps.environments.gitops.writer import (
    CommitResult,
    commit_landed,
    head_sha,
    image_follow_automation,
    image_read,
    image_set_tag,
)

__all__ = [
    "HEARTBEAT_SECONDS", "TAG_PATTERN", "CommitResult", "CredentialsError", "Edit", "GitOpsError",
    "Heartbeat", "ImageEntry", "ImageNotFound", "InvalidTag", "InvalidYaml", "KustomizationMissing",
    "NoImagesList", "PushGaveUp", "PushRejected", "RepoSpec", "RepoUnreachable", "RepositoryRefused",
    "UneditableEntry", "branch_problem", "commit_landed", "entry_read", "head_sha", "image_follow_automation",
    "image_read", "image_set_tag", "repo_url_problem", "tag_valid", "workdir_for",
]  # fmt: skip

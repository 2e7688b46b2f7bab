"""What can go wrong in the GitOps writer; `step` says where (config, credentials, fetch, read, edit,
commit, push, lock)."""

from __future__ import annotations


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

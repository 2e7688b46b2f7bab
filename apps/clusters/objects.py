"""Facts about Kubernetes objects that the sync, the pages and the apps above all read one way.

Conditions (is this object Ready?) and container image references (which
repository, which tag) were each read three ways in three apps; these are the
one reading.
"""

from __future__ import annotations

from dataclasses import dataclass


def condition(conditions: list[dict] | None, kind: str = "Ready") -> dict:
    """The condition of that type among `status.conditions` (Ready by default), or {}."""
    return next((c for c in conditions or [] if c.get("type") == kind), {})


def is_ready(obj: dict) -> bool:
    """Whether an object (a pod, a Flux object) says its Ready condition is True."""
    return condition((obj.get("status") or {}).get("conditions")).get("status") == "True"


@dataclass(frozen=True)
class ImageRef:
    """`[registry[:port]/]repository[:tag][@digest]`, taken apart."""

    repository: str  # with its registry, without tag or digest
    tag: str  # "" when none is written (the runtime pulls `latest`)
    digest: str  # "" when none is written

    @property
    def pinned(self) -> bool:
        """A digest, or a tag other than `latest`: the image cannot change under the same name."""
        return bool(self.digest) or self.tag not in ("", "latest")

    @property
    def shown(self) -> str:
        """What a page shows for it: the digest's start, else the tag (`latest` when none)."""
        return self.digest[:19] if self.digest else self.tag or "latest"


def image_parse(reference: str) -> ImageRef:
    """Take an image reference apart; a port in the registry host is not a tag."""
    name, _, digest = reference.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :], digest)
    return ImageRef(name, "", digest)

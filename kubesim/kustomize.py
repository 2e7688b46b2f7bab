"""What kustomize build does, as far as kubesim plays it: find and check a kustomization, read its images.

Errors are worded as kustomize-controller words them (the portal shows them as they come).
Only the `newTag` of `images:` entries is applied by the player; nothing else of the
kustomization (other resources, patches, pruning).
"""

from __future__ import annotations

import posixpath
import zlib
from pathlib import Path

import yaml

from kubesim.git import GitError, git_run

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class BuildFailed(Exception):
    """The build failed; the message is kustomize-controller's."""


def kustomization_build(repo: Path, sha: str, path: str) -> dict:
    """The kustomization at `path` in commit `sha`, checked as `kustomize build` would."""
    # Only for messages: where kustomize-controller would have unpacked the artifact.
    workdir = f"/tmp/kustomization-{zlib.crc32(sha.encode()) % 10**9}"  # noqa: S108
    directory = posixpath.normpath(path).lstrip("/")
    directory = "" if directory == "." else directory
    try:
        files = set(git_run(repo, "ls-tree", "-r", "--name-only", sha).splitlines())
    except GitError as error:
        raise BuildFailed(f"failed to extract source artifact: {error}") from None
    prefix = f"{directory}/" if directory else ""
    if directory and not any(f.startswith(prefix) for f in files):
        raise BuildFailed(
            f"kustomization path not found: stat {workdir}/{directory}: no such file or directory"
        )
    name = next((n for n in KUSTOMIZATION_FILES if f"{prefix}{n}" in files), None)
    if name is None:
        return {}  # Flux generates a kustomization of every manifest: no images to set.
    text = git_run(repo, "cat-file", "blob", f"{sha}:{prefix}{name}")
    try:
        kustomization = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise BuildFailed(
            f"kustomize build failed: MalformedYAMLError: yaml: {line}{problem} in File: {name}"
        ) from None
    if kustomization is None:
        kustomization = {}
    if not isinstance(kustomization, dict):
        raise BuildFailed(
            f"kustomize build failed: invalid Kustomization: json: cannot unmarshal "
            f"{type(kustomization).__name__} into Go value of type types.Kustomization in File: {name}"
        )
    for resource in kustomization.get("resources") or []:
        if not isinstance(resource, str) or "://" in resource or resource.startswith("github.com/"):
            continue
        target = posixpath.normpath(posixpath.join(directory, resource))
        if target in files or any(f.startswith(f"{target}/") for f in files):
            continue
        raise BuildFailed(
            "kustomize build failed: accumulating resources: accumulation err='accumulating "
            f"resources from '{resource}': open {workdir}/{target}: no such file or directory'"
        )
    return kustomization


def image_repository(image: str) -> str:
    """`repo:tag@digest` -> repo; a registry port is not a tag."""
    rest = image.partition("@")[0]
    colon = rest.rfind(":")
    return rest[:colon] if colon > rest.rfind("/") else rest


def kustomization_images(kustomization: dict) -> dict[str, str]:
    """The `images:` entries as repository -> newTag, as far as kubesim plays them."""
    images = {}
    for entry in kustomization.get("images") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        other = sorted(key for key in entry if key not in ("name", "newTag"))
        if other:
            # The demo and the portal set newTag only; a mirror or a digest would be applied wrongly.
            raise BuildFailed(f"kubesim applies newTag only, not {other[0]} (image {entry['name']})")
        if entry.get("newTag") is not None:
            images[entry["name"]] = str(entry["newTag"])
    return images

"""Flux for local bare git repositories: source-controller and kustomize-controller, in small.

`GitOpsPlayer` maps Flux GitRepository objects to local bare repositories and, on
each `step()`, does what the portal relies on Flux to do:

- source-controller: resolve `spec.ref` (a branch) with `git rev-parse` and publish
  `status.artifact.revision` = `<branch>@sha1:<sha>`;
- kustomize-controller: read `<spec.path>/kustomization.yaml` at that commit
  (`kubesim.kustomize`) and set the `newTag` of the images it names on the
  Deployments of the target namespace, then record `lastAppliedRevision`.

The Deployments then roll out through `kubesim.demo.evolve`, which runs the player
(and the image automation player, `kubesim.automation`) in each step.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubesim.flux import GITREPOSITORIES, KUSTOMIZATIONS, Schedule, object_key, reconciled
from kubesim.git import GitError, commit_exists, git_run
from kubesim.kustomize import BuildFailed, image_repository, kustomization_build, kustomization_images
from kubesim.store import NotFound, Store, timestamp

DEPLOYMENTS = "deployments.apps"


@dataclass
class _Source:
    revision: str
    sha: str
    repo: Path


def _resolve(repo: Path, ref: dict) -> tuple[str, str]:
    """The artifact revision and commit sha for a GitRepository's `spec.ref`."""
    if not (repo / "HEAD").is_file():
        raise GitError(f"repository not found: {repo}")
    other = sorted(key for key in ref if key != "branch")
    if other:
        # Nothing here points a GitRepository at a tag or a commit; say so rather than guess.
        raise GitError(f"kubesim follows branches only, not spec.ref.{other[0]}")
    # Flux's default branch is master when no ref is given.
    name = ref.get("branch") or "master"
    full = f"refs/heads/{name}"
    try:
        sha = git_run(repo, "rev-parse", "--verify", f"{full}^{{commit}}").strip()
    except GitError:
        raise GitError(f"couldn't find remote ref '{full}'") from None
    return f"{name}@sha1:{sha}", sha


class GitOpsPlayer:
    """Source- and kustomize-controller for the GitRepositories mapped to local bare repositories.

    `repos` maps `namespace/name` of a GitRepository to the path of a bare
    repository. Each `step()` reconciles what is due: everything on the first
    step, then an object whose `reconcile.fluxcd.io/requestedAt` changed, a
    Kustomization whose source revision changed, and anything whose
    `spec.interval` has elapsed, counted in steps of `step_seconds` (the
    evolve period: 5 s in the demo; tests that poll pass a large value).
    """

    def __init__(
        self, store: Store, repos: Mapping[str, str | os.PathLike[str]], *, step_seconds: float = 5.0
    ) -> None:
        self.store = store
        self.repos = {key: Path(path).resolve() for key, path in repos.items()}
        self.schedule = Schedule(step_seconds)
        self._applied_from: dict[str, str] = {}  # kustomization key -> source revision applied
        self._commits: set[tuple[Path, str]] = set()  # commits known to be in a repository

    def sources_refresh(self) -> None:
        """Resolve every source on the next step, as a push notifies source-controller
        (a webhook Receiver, in a real cluster)."""
        self.schedule.forget("GitRepository/")

    def step(self) -> None:
        """Reconcile the sources and Kustomizations that are due."""
        sources: dict[tuple[str, str], _Source] = {}
        try:
            repositories = self.store.list(GITREPOSITORIES)
        except LookupError:
            return
        for obj in repositories:
            key = object_key(obj)
            if key not in self.repos or (obj.get("spec") or {}).get("suspend"):
                continue
            source = self._reconcile_source(obj, self.repos[key])
            if source is not None:
                sources[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = source
        for obj in self.store.list(KUSTOMIZATIONS):
            spec, meta = obj.get("spec") or {}, obj["metadata"]
            ref = spec.get("sourceRef") or {}
            if ref.get("kind", "GitRepository") != "GitRepository" or spec.get("suspend"):
                continue
            source = sources.get((ref.get("namespace") or meta["namespace"], ref.get("name")))
            if source is None:
                continue
            key = f"Kustomization/{object_key(obj)}"
            if self.schedule.due(key, obj) or self._applied_from.get(key) != source.revision:
                self._reconcile_kustomization(obj, source)
                self._applied_from[key] = source.revision
        self.schedule.advance()

    # -- source-controller --

    def _reconcile_source(self, obj: dict, repo: Path) -> _Source | None:
        """Resolve the ref (when due) and return the artifact to build from, if there is one."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        url = f"file://{repo}"
        if spec.get("url") != url:

            def point(current: dict) -> None:
                current["spec"]["url"] = url

            obj = self.store.update(GITREPOSITORIES, meta["namespace"], meta["name"], point)
            meta = obj["metadata"]
        key = f"GitRepository/{object_key(obj)}"
        if not self.schedule.due(key, obj):
            artifact = (obj.get("status") or {}).get("artifact") or {}
            revision = artifact.get("revision", "")
            sha = revision.rpartition("sha1:")[2]
            if sha and ((repo, sha) in self._commits or commit_exists(repo, sha)):
                self._commits.add((repo, sha))
                return _Source(revision, sha, repo)
            return None
        requested = self.schedule.done(key, obj)
        generation = meta.get("generation", 1)
        ns, name = meta["namespace"], meta["name"]
        try:
            revision, sha = _resolve(repo, spec.get("ref") or {})
        except GitError as error:
            message = f"failed to checkout and determine revision: unable to clone '{url}': {error}"

            def failed(current: dict) -> None:
                status = current.setdefault("status", {})
                reconciled(
                    status, ready=False, reason="GitOperationFailed", message=message,
                    generation=generation, requested=requested,
                )  # fmt: skip

            self.store.update(GITREPOSITORIES, ns, name, failed, status_only=True)
            return None

        archive = f"gitrepository/{ns}/{name}/{sha}.tar.gz"

        def succeeded(current: dict) -> None:
            status = current.setdefault("status", {})
            artifact = status.get("artifact") or {}
            if artifact.get("revision") != revision:
                status["artifact"] = {
                    "revision": revision,
                    "path": archive,
                    "url": f"http://source-controller.flux-system.svc.cluster.local./{archive}",
                    "digest": "sha256:" + hashlib.sha256(sha.encode()).hexdigest(),
                    "size": 4096 + int(sha[:3], 16),
                    "lastUpdateTime": timestamp(datetime.now(UTC)),
                }
            reconciled(
                status, ready=True, reason="Succeeded", message=f"stored artifact for revision '{revision}'",
                generation=generation, requested=requested,
            )  # fmt: skip

        self.store.update(GITREPOSITORIES, ns, name, succeeded, status_only=True)
        return _Source(revision, sha, repo)

    # -- kustomize-controller --

    def _reconcile_kustomization(self, obj: dict, source: _Source) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        requested = self.schedule.done(f"Kustomization/{object_key(obj)}", obj)
        generation = meta.get("generation", 1)
        try:
            kustomization = kustomization_build(source.repo, source.sha, spec.get("path") or "./")
            namespace = spec.get("targetNamespace") or kustomization.get("namespace")
            images = kustomization_images(kustomization)
            if namespace and images:
                self._set_images(namespace, images)
        except BuildFailed as error:
            message = str(error)

            def failed(current: dict) -> None:
                status = current.setdefault("status", {})
                status["lastAttemptedRevision"] = source.revision
                reconciled(
                    status, ready=False, reason="BuildFailed", message=message,
                    generation=generation, requested=requested,
                )  # fmt: skip

            self.store.update(KUSTOMIZATIONS, meta["namespace"], meta["name"], failed, status_only=True)
            return

        def applied(current: dict) -> None:
            status = current.setdefault("status", {})
            status["lastAttemptedRevision"] = source.revision
            status["lastAppliedRevision"] = source.revision
            reconciled(
                status, ready=True, reason="ReconciliationSucceeded",
                message=f"Applied revision: {source.revision}", generation=generation, requested=requested,
            )  # fmt: skip

        self.store.update(KUSTOMIZATIONS, meta["namespace"], meta["name"], applied, status_only=True)

    def _set_images(self, namespace: str, images: dict[str, str]) -> None:
        """Set each image's tag (repository -> newTag) on the namespace's Deployments."""
        for dep in self.store.list(DEPLOYMENTS, namespace):
            template = dep["spec"]["template"]["spec"]
            wanted = {}
            for group in ("initContainers", "containers"):
                for i, container in enumerate(template.get(group) or []):
                    repo = image_repository(container.get("image", ""))
                    if repo in images and container["image"] != f"{repo}:{images[repo]}":
                        wanted[(group, i)] = f"{repo}:{images[repo]}"
            if not wanted:
                continue

            def change(current: dict, wanted: dict = wanted) -> None:
                spec = current["spec"]["template"]["spec"]
                for (group, i), image in wanted.items():
                    spec[group][i]["image"] = image

            try:
                self.store.update(DEPLOYMENTS, namespace, dep["metadata"]["name"], change)
            except NotFound:
                continue  # deleted meanwhile

"""Play Flux for real local git repositories: source-controller and kustomize-controller, in small.

`demo_repo_init` creates the demo's GitOps repository (a bare repository whose
kustomizations match what `kubesim.demo` seeds). `GitOpsPlayer` maps Flux
GitRepository objects to local bare repositories and, on each `step()`, does
what the portal relies on Flux to do:

- source-controller: resolve `spec.ref` with `git rev-parse` and publish
  `status.artifact.revision` = `<branch>@sha1:<sha>`;
- kustomize-controller: read `<spec.path>/kustomization.yaml` at that commit
  and set the `newTag` of the images it names on the Deployments of the
  target namespace, then record `lastAppliedRevision`.

The Deployments then roll out through `kubesim.demo.evolve`, which
`GitOpsPlayer.step()` is meant to run alongside (pass the player to `evolve`).
Nothing else of the kustomization is applied: no other resources, patches or
pruning.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from kubesim import objects as o
from kubesim.flux import REQUESTED_AT
from kubesim.store import NotFound, Store, timestamp

GITREPOSITORIES = "gitrepositories.source.toolkit.fluxcd.io"
KUSTOMIZATIONS = "kustomizations.kustomize.toolkit.fluxcd.io"
DEPLOYMENTS = "deployments.apps"
DEMO_AUTHOR = ("Platform Team", "platform@example.com")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# -- the demo repository ------------------------------------------------------


def _payments_deployment(env: str, name: str, replicas: int, port: int | None) -> str:
    """A Deployment manifest as the payments team keeps it in git (the tag comes from kustomize)."""
    probes = (
        f"""          ports:
            - name: http
              containerPort: {port}
          readinessProbe:
            httpGet: {{path: /readyz, port: http}}
            periodSeconds: 10
          livenessProbe:
            httpGet: {{path: /livez, port: http}}
            initialDelaySeconds: 15
"""
        if port
        else ""
    )
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
    app.kubernetes.io/part-of: payments
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  strategy:
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 25%}}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      serviceAccountName: {name if env == "production" else "default"}
      containers:
        - name: {name}
          # The tag is set by the images: list in kustomization.yaml, never here.
          image: {o.REGISTRY}/payments/{name}
{probes}          env:
            - name: LOG_LEVEL
              value: info
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef: {{name: {name}-db, key: url}}
          resources:
            requests: {{cpu: 250m, memory: 256Mi}}
            limits: {{memory: 512Mi}}
"""


def _demo_tree() -> dict[str, str]:
    """Path -> content of the demo GitOps repository (tags as `kubesim.demo` seeds them)."""
    registry = o.REGISTRY
    staging = f"""\
# Payments staging: every merge to main of checkout-api lands here.
# Owner: #team-payments. Deploys from the portal edit the newTag lines below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments-staging
resources:
  - deployment.yaml
images:
  # checkout-api follows the image automation policy payments/checkout-api;
  # keep the marker comment on the newTag line or Flux stops updating it.
  - name: {registry}/payments/checkout-api
    newTag: v2.15.0-rc.1 # {{"$imagepolicy": "payments:checkout-api:tag"}}
  # ledger-worker is bumped by hand until its release candidates are stable.
  - name: {registry}/payments/ledger-worker
    newTag: v1.9.0-rc.2
"""
    production = f"""\
# Payments production. Promote only tags that have soaked in staging,
# and say why in the commit message (the portal does this for you).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments
resources:
  - deployment.yaml
images:
  - name: {registry}/payments/checkout-api
    newTag: v2.14.3
  - name: {registry}/payments/ledger-worker
    newTag: v1.8.0
"""
    search = """\
# Search staging.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: search
resources:
  - search-api.yaml
  # TODO(search): commit indexer.yaml, this build fails until then.
  - indexer.yaml
"""
    search_api = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: search-api
  labels:
    app: search-api
spec:
  replicas: 2
  selector:
    matchLabels:
      app: search-api
  template:
    metadata:
      labels:
        app: search-api
    spec:
      serviceAccountName: search-api
      containers:
        - name: search-api
          image: {registry}/search/search-api:v1.4.0
"""

    def deployments(env: str, replicas: int) -> str:
        return "---\n".join(
            [
                _payments_deployment(env, "checkout-api", replicas, 8080),
                _payments_deployment(env, "ledger-worker", 1, None),
            ]
        )

    return {
        "README.md": "# gitops\n\nWhat runs in the clusters. Flux applies `apps/<team>/<environment>/`.\n",
        "apps/payments/staging/kustomization.yaml": staging,
        "apps/payments/staging/deployment.yaml": deployments("staging", 1),
        "apps/payments/production/kustomization.yaml": production,
        "apps/payments/production/deployment.yaml": deployments("production", 3),
        "apps/search/staging/kustomization.yaml": search,
        "apps/search/staging/search-api.yaml": search_api,
    }


def demo_repo_init(path: str | os.PathLike[str]) -> bool:
    """Create the demo GitOps bare repository (branch `main`) at `path` unless it exists.

    Returns whether it was created. The repository is built next to `path`
    and renamed into place, so an interrupted run never leaves half a repository.
    """
    target = Path(path)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        bare = building / "repo.git"
        git_run(None, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
        with tempfile.TemporaryDirectory(prefix="kubesim-gitops-") as work:
            for name, content in _demo_tree().items():
                file = Path(work) / name
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(content)
            tree = ["--git-dir", str(bare), "--work-tree", work]
            git_run(None, *tree, "add", "--all")
            git_run(None, *tree, "commit", "--quiet", "-m", "Payments and search apps for the demo cluster")
        try:
            os.rename(bare, target)
        except OSError:
            if target.exists():  # another process won the race
                return False
            raise
        return True
    finally:
        shutil.rmtree(building, ignore_errors=True)


# -- git ----------------------------------------------------------------------


class GitError(Exception):
    pass


def git_run(git_dir: str | None, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """Run git (on the bare repository `git_dir`) as the demo author; stdout, or GitError."""
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
        command += ["--git-dir", git_dir]
    result = subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=30)
    if result.returncode != 0:
        raise GitError(result.stderr.strip() or f"git {args[0]} failed")
    return result.stdout


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
        sha = git_run(str(repo), "rev-parse", "--verify", f"{full}^{{commit}}").strip()
    except GitError:
        raise GitError(f"couldn't find remote ref '{full}'") from None
    return f"{name}@sha1:{sha}", sha


# -- the controllers ----------------------------------------------------------


class BuildFailed(Exception):
    pass


@dataclass
class _Source:
    revision: str
    sha: str
    repo: Path


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(value: str | None, default: float = 60.0) -> float:
    """Seconds in a Go duration such as `1m`, `5m0s`, `1h30m`."""
    parts = _DURATION.findall(value or "")
    return sum(float(n) * _UNITS[u] for n, u in parts) if parts else default


def _key(obj: dict) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _condition(ready: bool, reason: str, message: str, generation: int) -> dict:
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": timestamp(datetime.now(UTC)),
        "observedGeneration": generation,
    }


def _set_ready(status: dict, condition: dict) -> None:
    """Replace the Ready condition, keeping its transition time when the status did not change."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if old and old.get("status") == condition["status"]:
        condition["lastTransitionTime"] = old.get("lastTransitionTime", condition["lastTransitionTime"])
    status["conditions"] = [condition, *conditions]


def image_repository(image: str) -> str:
    """`repo:tag@digest` -> repo; a registry port is not a tag."""
    rest = image.partition("@")[0]
    colon = rest.rfind(":")
    return rest[:colon] if colon > rest.rfind("/") else rest


def _images(kustomization: dict) -> dict[str, str]:
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
        self, store: Store, repos: Mapping[str, str | os.PathLike[str]], *, step_seconds: float = 5.0,
        automation: bool = False,
    ) -> None:  # fmt: skip
        self.store = store
        self.repos = {key: Path(path).resolve() for key, path in repos.items()}
        self.step_seconds = step_seconds
        self.steps = 0
        # With `automation`, image-automation-controller runs too (kubesim.automation).
        self.automation = None
        if automation:
            from kubesim.automation import ImageAutomationPlayer

            self.automation = ImageAutomationPlayer(store, repos, step_seconds=step_seconds)
        self._last_run: dict[str, int] = {}  # "kind/ns/name" -> step it was last reconciled
        self._requests: dict[str, str | None] = {}  # "kind/ns/name" -> requestedAt handled
        self._applied_from: dict[str, str] = {}  # kustomization key -> source revision applied
        self._commits: set[tuple[Path, str]] = set()  # commits known to be in a repository

    # -- scheduling --

    def _due(self, kind: str, obj: dict) -> bool:
        key = f"{kind}/{_key(obj)}"
        requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        if key not in self._last_run:
            return True
        if requested and requested != self._requests.get(key):
            return True
        interval = parse_duration((obj.get("spec") or {}).get("interval"))
        every = max(1, round(interval / self.step_seconds)) if self.step_seconds > 0 else 1
        return self.steps - self._last_run[key] >= every

    def _done(self, kind: str, obj: dict) -> str | None:
        key = f"{kind}/{_key(obj)}"
        requested = (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)
        self._last_run[key] = self.steps
        self._requests[key] = requested
        return requested

    def step(self) -> None:
        """Reconcile the sources and Kustomizations that are due (after image automation, if on)."""
        if self.automation is not None and self.automation.step():
            # A push notifies source-controller (a webhook Receiver, in a real cluster).
            for key in [k for k in self._last_run if k.startswith("GitRepository/")]:
                del self._last_run[key]
        sources: dict[tuple[str, str], _Source] = {}
        try:
            repositories = self.store.list(GITREPOSITORIES)
        except LookupError:
            return
        for obj in repositories:
            key = _key(obj)
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
            key = f"Kustomization/{_key(obj)}"
            if self._due("Kustomization", obj) or self._applied_from.get(key) != source.revision:
                self._reconcile_kustomization(obj, source)
                self._applied_from[key] = source.revision
        self.steps += 1

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
        if not self._due("GitRepository", obj):
            artifact = (obj.get("status") or {}).get("artifact") or {}
            revision = artifact.get("revision", "")
            sha = revision.rpartition("sha1:")[2]
            if sha and ((repo, sha) in self._commits or _has_commit(repo, sha)):
                self._commits.add((repo, sha))
                return _Source(revision, sha, repo)
            return None
        requested = self._done("GitRepository", obj)
        generation = meta.get("generation", 1)
        try:
            revision, sha = _resolve(repo, spec.get("ref") or {})
        except (GitError, OSError, subprocess.TimeoutExpired) as error:
            message = f"failed to checkout and determine revision: unable to clone '{url}': {error}"

            def failed(current: dict) -> None:
                status = current.setdefault("status", {})
                _set_ready(status, _condition(False, "GitOperationFailed", message, generation))
                status["observedGeneration"] = generation
                if requested:
                    status["lastHandledReconcileAt"] = requested

            self.store.update(GITREPOSITORIES, meta["namespace"], meta["name"], failed, status_only=True)
            return None

        ns, name = meta["namespace"], meta["name"]
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
            message = f"stored artifact for revision '{revision}'"
            _set_ready(status, _condition(True, "Succeeded", message, generation))
            status["observedGeneration"] = generation
            if requested:
                status["lastHandledReconcileAt"] = requested

        self.store.update(GITREPOSITORIES, ns, name, succeeded, status_only=True)
        return _Source(revision, sha, repo)

    # -- kustomize-controller --

    def _reconcile_kustomization(self, obj: dict, source: _Source) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        requested = self._done("Kustomization", obj)
        generation = meta.get("generation", 1)
        try:
            kustomization = _build(source, spec.get("path") or "./")
            namespace = spec.get("targetNamespace") or kustomization.get("namespace")
            images = _images(kustomization)
            if namespace and images:
                self._set_images(namespace, images)
        except BuildFailed as error:
            message = str(error)

            def failed(current: dict) -> None:
                status = current.setdefault("status", {})
                status["lastAttemptedRevision"] = source.revision
                _set_ready(status, _condition(False, "BuildFailed", message, generation))
                status["observedGeneration"] = generation
                if requested:
                    status["lastHandledReconcileAt"] = requested

            self.store.update(KUSTOMIZATIONS, meta["namespace"], meta["name"], failed, status_only=True)
            return

        def applied(current: dict) -> None:
            status = current.setdefault("status", {})
            status["lastAttemptedRevision"] = source.revision
            status["lastAppliedRevision"] = source.revision
            message = f"Applied revision: {source.revision}"
            _set_ready(status, _condition(True, "ReconciliationSucceeded", message, generation))
            status["observedGeneration"] = generation
            if requested:
                status["lastHandledReconcileAt"] = requested

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


def _has_commit(repo: Path, sha: str) -> bool:
    try:
        git_run(str(repo), "cat-file", "-e", f"{sha}^{{commit}}")
    except (GitError, OSError, subprocess.TimeoutExpired):
        return False
    return True


def _build(source: _Source, path: str) -> dict:
    """The kustomization at `path` in the source's commit, checked as `kustomize build` would."""
    # Only for messages: where kustomize-controller would have unpacked the artifact.
    workdir = f"/tmp/kustomization-{zlib.crc32(source.sha.encode()) % 10**9}"  # noqa: S108
    directory = posixpath.normpath(path).lstrip("/")
    directory = "" if directory == "." else directory
    try:
        files = set(git_run(str(source.repo), "ls-tree", "-r", "--name-only", source.sha).splitlines())
    except (GitError, OSError, subprocess.TimeoutExpired) as error:
        raise BuildFailed(f"failed to extract source artifact: {error}") from None
    prefix = f"{directory}/" if directory else ""
    if directory and not any(f.startswith(prefix) for f in files):
        raise BuildFailed(
            f"kustomization path not found: stat {workdir}/{directory}: no such file or directory"
        )
    name = next((n for n in KUSTOMIZATION_FILES if f"{prefix}{n}" in files), None)
    if name is None:
        return {}  # Flux generates a kustomization of every manifest: no images to set.
    text = git_run(str(source.repo), "cat-file", "blob", f"{source.sha}:{prefix}{name}")
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

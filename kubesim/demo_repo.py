"""The demo's GitOps repository: what the payments and search teams keep in git, created on demand.

Its kustomizations match what `kubesim.demo` seeds (same tags), so the first reconcile
changes nothing; staging's checkout-api line carries image automation's setter marker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kubesim.git import git_run
from kubesim.objects import REGISTRY


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
          image: {REGISTRY}/payments/{name}
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
    registry = REGISTRY
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

"""Flux in the demo cluster: the kinds served, the demo's Flux objects, and what the players share.

`reconcile_step` only honours what the portal asks of every Flux object: a new
`reconcile.fluxcd.io/requestedAt` annotation is acknowledged in
`status.lastHandledReconcileAt`. For a GitRepository backed by a real local
repository, `kubesim.gitops` plays source- and kustomize-controller properly and
`kubesim.automation` image-automation-controller; both use the helpers here
(when an object is due, how a reconcile is recorded in its status).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kubesim.resources import Registry
from kubesim.store import Store, timestamp

# group -> (preferred version first, [(kind, plural)])
FLUX_RESOURCES = {
    "source.toolkit.fluxcd.io": (
        ["v1"],
        [("GitRepository", "gitrepositories"), ("OCIRepository", "ocirepositories"),
         ("HelmRepository", "helmrepositories"), ("HelmChart", "helmcharts")],
    ),
    "kustomize.toolkit.fluxcd.io": (["v1"], [("Kustomization", "kustomizations")]),
    "helm.toolkit.fluxcd.io": (["v2"], [("HelmRelease", "helmreleases")]),
    "image.toolkit.fluxcd.io": (
        ["v1"],
        [("ImageRepository", "imagerepositories"), ("ImagePolicy", "imagepolicies"),
         ("ImageUpdateAutomation", "imageupdateautomations")],
    ),
}  # fmt: skip

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
GITREPOSITORIES = "gitrepositories.source.toolkit.fluxcd.io"
KUSTOMIZATIONS = "kustomizations.kustomize.toolkit.fluxcd.io"
AUTOMATIONS = "imageupdateautomations.image.toolkit.fluxcd.io"
POLICIES = "imagepolicies.image.toolkit.fluxcd.io"


def register_flux(registry: Registry, versions: dict[str, list[str]] | None = None) -> None:
    """Serve the Flux kinds; `versions` overrides a group's versions (e.g. an older cluster)."""
    for group, (default_versions, kinds) in FLUX_RESOURCES.items():
        for kind, plural in kinds:
            registry.register_resource(group, (versions or {}).get(group, default_versions), kind, plural)


def ready_condition(
    ready: bool, reason: str, message: str, *, generation: int = 1, when: str | None = None
) -> dict:
    """A Flux `Ready` condition, as of now unless `when` is given."""
    return {
        "type": "Ready", "status": "True" if ready else "False", "reason": reason, "message": message,
        "lastTransitionTime": when or timestamp(datetime.now(UTC)), "observedGeneration": generation,
    }  # fmt: skip


def _ready(ready: bool, reason: str, message: str, when: str) -> dict:
    # Short for the demo objects below, which all start at generation 1.
    return ready_condition(ready, reason, message, when=when)


def reconciled(
    status: dict, *, ready: bool, reason: str, message: str, generation: int, requested: str | None
) -> None:
    """Record a reconcile in `status` as Flux's controllers do: Ready, observedGeneration, the request.

    The Ready condition keeps its transition time when its status did not change.
    """
    condition = ready_condition(ready, reason, message, generation=generation)
    old = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if old and old.get("status") == condition["status"]:
        condition["lastTransitionTime"] = old.get("lastTransitionTime", condition["lastTransitionTime"])
    others = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    status["conditions"] = [condition, *others]
    status["observedGeneration"] = generation
    if requested:
        status["lastHandledReconcileAt"] = requested


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(value: str | None, default: float = 60.0) -> float:
    """Seconds in a Go duration such as `1m`, `5m0s`, `1h30m`."""
    parts = _DURATION.findall(value or "")
    return sum(float(n) * _UNITS[u] for n, u in parts) if parts else default


def object_key(obj: dict) -> str:
    """`namespace/name` of a namespaced object."""
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def requested_at(obj: dict) -> str | None:
    """The object's `reconcile.fluxcd.io/requestedAt` annotation, if any."""
    return (obj["metadata"].get("annotations") or {}).get(REQUESTED_AT)


class Schedule:
    """When a controller reconciles an object: on its first step, on a new `requestedAt`, and
    every `spec.interval`, counted in steps of `step_seconds` (the evolve period: 5 s in the demo).
    """

    def __init__(self, step_seconds: float) -> None:
        self.step_seconds = step_seconds
        self.steps = 0
        self._last: dict[str, tuple[int, str | None]] = {}  # key -> (step run, requestedAt handled)

    def due(self, key: str, obj: dict) -> bool:
        last = self._last.get(key)
        if last is None:
            return True
        requested = requested_at(obj)
        if requested and requested != last[1]:
            return True
        interval = parse_duration((obj.get("spec") or {}).get("interval"))
        every = max(1, round(interval / self.step_seconds)) if self.step_seconds > 0 else 1
        return self.steps - last[0] >= every

    def done(self, key: str, obj: dict) -> str | None:
        """Record that `obj` was reconciled at this step; returns the `requestedAt` it handled."""
        requested = requested_at(obj)
        self._last[key] = (self.steps, requested)
        return requested

    def advance(self) -> None:
        """One step has passed."""
        self.steps += 1

    def forget(self, prefix: str) -> None:
        """Make every object whose key starts with `prefix` due on the next step."""
        for key in [k for k in self._last if k.startswith(prefix)]:
            del self._last[key]


def _snapshot(chart_version: str, app_version: str, status: str, version: int, when: str) -> dict:
    """One entry of a HelmRelease's status.history, with every field the v2 schema requires."""
    return {
        "name": "payments-cache", "namespace": "payments", "chartName": "redis",
        "chartVersion": chart_version, "appVersion": app_version, "status": status, "version": version,
        "configDigest": "sha256:" + "1" * 64, "digest": "sha256:" + f"{version:x}" * 64,
        "firstDeployed": when, "lastDeployed": when,
    }  # fmt: skip


def _obj(api_version: str, kind: str, namespace: str, name: str, spec: dict, status: dict) -> dict:
    return {
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec, "status": {"observedGeneration": 1, **status},
    }  # fmt: skip


# What the registry holds for payments/checkout-api, newest first: main builds
# (what the ImagePolicy picks), release tags and a few feature-branch builds.
CHECKOUT_API_TAGS = [
    "main-3f2a1c9-1764150000",
    "v2.15.0-rc.2",
    "feature-x-8d41b7e-1764146000",
    "main-9e8d7c6-1764140000",
    "feature-refund-retries-c0ffee1-1764130000",
    "v2.15.0-rc.1",
    "main-2b7f0a4-1764060000",
    "v2.14.3",
    "feature-x-3f2a1c9-1732600000",
    "v2.14.2",
]


def flux_demo_objects(now: datetime | None = None) -> list[dict]:
    """The payments apps (production and staging) healthy, search failing, Helm and images.

    `flux-system/payments-apps` applies ./apps/payments/production to namespace
    payments and `flux-system/payments-staging` applies ./apps/payments/staging
    to payments-staging, both from the GitRepository `flux-system/gitops`.
    """
    when = timestamp(now or datetime.now(UTC))
    revision = "main@sha1:3f2a1c9d8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
    git = "source.toolkit.fluxcd.io/v1"
    return [
        _obj(git, "GitRepository", "flux-system", "gitops",
             {"url": "ssh://git@git.example.com/platform/gitops.git", "ref": {"branch": "main"}, "interval": "1m"},
             {"conditions": [_ready(True, "Succeeded", f"stored artifact for revision '{revision}'", when)],
              "artifact": {"revision": revision, "path": "gitrepository/flux-system/gitops/3f2a1c9.tar.gz",
                           "url": "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/gitops/3f2a1c9.tar.gz",
                           "digest": "sha256:5e2c6b0c6f3b7e3a1e8d4c2b9a7f6e5d4c3b2a190817263544f5e6d7c8b9a0f1",
                           "lastUpdateTime": when}}),
        _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "payments-apps",
             {"interval": "5m", "path": "./apps/payments/production", "prune": True, "targetNamespace": "payments",
              "sourceRef": {"kind": "GitRepository", "name": "gitops"}},
             {"conditions": [_ready(True, "ReconciliationSucceeded", f"Applied revision: {revision}", when)],
              "lastAppliedRevision": revision, "lastAttemptedRevision": revision}),
        _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "payments-staging",
             {"interval": "5m", "path": "./apps/payments/staging", "prune": True,
              "targetNamespace": "payments-staging", "sourceRef": {"kind": "GitRepository", "name": "gitops"}},
             {"conditions": [_ready(True, "ReconciliationSucceeded", f"Applied revision: {revision}", when)],
              "lastAppliedRevision": revision, "lastAttemptedRevision": revision}),
        _obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "search-apps",
             {"interval": "5m", "path": "./apps/search/staging", "prune": True, "targetNamespace": "search",
              "sourceRef": {"kind": "GitRepository", "name": "gitops"}},
             {"conditions": [_ready(False, "BuildFailed",
                                    "kustomize build failed: accumulating resources: accumulation err="
                                    "'accumulating resources from 'indexer.yaml': open "
                                    "/tmp/kustomization-123/apps/search/staging/indexer.yaml: "
                                    "no such file or directory'", when)],
              "lastAppliedRevision": "main@sha1:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c",
              "lastAttemptedRevision": revision}),
        _obj("source.toolkit.fluxcd.io/v1", "HelmRepository", "payments", "bitnami",
             {"url": "oci://registry.example.com/charts", "type": "oci", "interval": "1h"},
             {"conditions": [_ready(True, "Succeeded", "Helm repository is Ready", when)]}),
        _obj("helm.toolkit.fluxcd.io/v2", "HelmRelease", "payments", "payments-cache",
             {"interval": "10m", "releaseName": "payments-cache",
              "chart": {"spec": {"chart": "redis", "version": "20.x",
                                 "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}},
              "upgrade": {"remediation": {"retries": 1, "strategy": "rollback"}}},
             {"conditions": [
                 _ready(False, "UpgradeFailed",
                        "Helm upgrade failed for release payments/payments-cache with chart redis@20.3.0: "
                        "context deadline exceeded", when),
                 {"type": "Released", "status": "False", "reason": "UpgradeFailed",
                  "message": "Helm upgrade failed: context deadline exceeded", "lastTransitionTime": when},
                 {"type": "Remediated", "status": "True", "reason": "RollbackSucceeded",
                  "message": "Helm rollback to previous release payments/payments-cache.v4 with chart redis@20.2.1 succeeded",
                  "lastTransitionTime": when},
              ],
              "history": [
                  _snapshot("20.2.1", "7.4.1", "deployed", 6, when),
                  _snapshot("20.3.0", "7.4.2", "failed", 5, when),
              ],
              "lastAttemptedRevision": "20.3.0", "failures": 1}),
        _obj("image.toolkit.fluxcd.io/v1", "ImageRepository", "payments", "checkout-api",
             {"image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api", "interval": "5m"},
             {"conditions": [_ready(True, "Succeeded", "successful scan: found 42 tags", when)],
              "lastScanResult": {"scanTime": when, "tagCount": 42, "latestTags": list(CHECKOUT_API_TAGS)}}),
        _obj("image.toolkit.fluxcd.io/v1", "ImagePolicy", "payments", "checkout-api",
             {"imageRepositoryRef": {"name": "checkout-api"},
              "filterTags": {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)", "extract": "$ts"},
              "policy": {"numerical": {"order": "asc"}}},
             {"conditions": [_ready(True, "Succeeded", "Latest image tag for 'checkout-api' resolved to main-3f2a1c9-1764150000", when)],
              "latestRef": {"name": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api",
                            "tag": "main-3f2a1c9-1764150000"}}),
        # Staging follows the newest main build: lines with the policy's setter marker under
        # ./apps/payments/staging get its tag (played by kubesim.automation in the demo).
        _obj("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation", "flux-system", "payments-staging",
             {"interval": "1m", "sourceRef": {"kind": "GitRepository", "name": "gitops"},
              "git": {"checkout": {"ref": {"branch": "main"}},
                      "commit": {"author": {"name": "fluxcdbot", "email": "fluxcdbot@example.com"}},
                      "push": {"branch": "main"}},
              "update": {"path": "./apps/payments/staging", "strategy": "Setters"}},
             {"conditions": [_ready(True, "Succeeded", "repository up-to-date", when)],
              "lastAutomationRunTime": when}),
    ]  # fmt: skip


def reconcile_step(store: Store) -> None:
    """Acknowledge reconcile requests and reflect suspension, as Flux's controllers would."""
    now = timestamp(datetime.now(UTC))
    for group, (_versions, kinds) in FLUX_RESOURCES.items():
        for _, plural in kinds:
            try:
                objects = store.list(f"{plural}.{group}")
            except LookupError:
                continue
            for obj in objects:
                meta, status = obj["metadata"], obj.get("status") or {}
                requested = requested_at(obj)
                suspended = bool((obj.get("spec") or {}).get("suspend"))
                changed = False
                if requested and status.get("lastHandledReconcileAt") != requested and not suspended:
                    status["lastHandledReconcileAt"] = requested
                    changed = True
                if status.get("observedGeneration") != meta.get("generation") and not suspended:
                    status["observedGeneration"] = meta.get("generation")
                    changed = True
                if changed:
                    for condition in status.get("conditions") or []:
                        condition["lastTransitionTime"] = now
                    obj["status"] = status
                    store.replace(obj, status_only=True)

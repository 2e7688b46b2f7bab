"""Helm (built from source by scripts/build-helm.sh) and the chart it renders, for the tests.

Skips (with the reason) when Helm is not built, except under CI=true, where it is a failure.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from tests.harness.servers import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shirube"
BUILD = ROOT / "scripts" / "build-helm.sh"


def helm_paths() -> tuple[Path, Path]:
    """(the helm binary, the folder of the Prometheus Operator's CRDs), as the build script names them."""
    out = subprocess.run(["bash", str(BUILD), "--print"], capture_output=True, text=True, check=True).stdout
    helm, crds = out.split()
    return Path(os.environ.get("SHIRUBE_HELM", helm)), Path(crds)


def helm_binary() -> Path:
    helm, _ = helm_paths()
    if not os.access(helm, os.X_OK):
        skip_or_fail(f"Helm is not built: {helm} (run scripts/build-helm.sh)", under_ci="Helm must be built")
    return helm


def prometheus_operator_crds() -> Path:
    _, crds = helm_paths()
    if not (crds / ".complete").exists():
        skip_or_fail(
            f"no Prometheus Operator CRDs in {crds} (run scripts/build-helm.sh)", under_ci="they must be"
        )
    return crds


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, check=check, timeout=120
    )


# Where the ServiceMonitor and PrometheusRule are rendered, Helm must be told their CRDs exist.
MONITORING_APIS = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule")


def render(*values_files: str, sets: tuple[str, ...] = (), namespace: str = "shirube") -> list[dict]:
    """`helm template` of the chart: the objects, in order (hooks included)."""
    args = ["template", "shirube", str(CHART), "--namespace", namespace]
    for api in MONITORING_APIS:
        args += ["--api-versions", api]
    for name in values_files:
        args += ["-f", str(CHART / name)]
    for value in sets:
        args += ["--set", value]
    return [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]

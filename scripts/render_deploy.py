"""Renders deploy/ from the Helm chart: the plain manifests for `kubectl apply -k deploy/`.

    python scripts/render_deploy.py           write deploy/ (after changing charts/shirube)
    python scripts/render_deploy.py --check   exit 1, naming the files, if deploy/ differs

charts/shirube is the one source of truth; deploy/ is its output with
charts/shirube/ci/deploy-values.yaml (no Helm labels, the `shirube:latest` placeholder that
kustomize replaces, the migration as a Job created by hand). The kustomization files are
written by hand and list these files; tests/chart/ checks that deploy/ is up to date.
Needs Helm (scripts/build-helm.sh builds it; HELM=/path/to/helm to use another).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "shirube"
DEPLOY = ROOT / "deploy"
HEADER = (
    "# Generated from charts/shirube by scripts/render_deploy.py (values: ci/deploy-values.yaml).\n"
    "# Edit the chart, then run the script again; tests/chart/ fails while this file differs.\n"
)
FLUX = ("rbac.fluxActions.enabled=true",)
# (extra --set values, {template file: deploy/ file}); every template with output is mapped.
RENDERS: list[tuple[tuple[str, ...], dict[str, str]]] = [
    (
        (),
        {
            "serviceaccount.yaml": "serviceaccount.yaml",
            "clusterrole.yaml": "clusterrole.yaml",
            "clusterrolebinding.yaml": "clusterrolebinding.yaml",
            "configmap.yaml": "configmap.yaml",
            "web-deployment.yaml": "web-deployment.yaml",
            "web-service.yaml": "web-service.yaml",
            "web-pdb.yaml": "web-pdb.yaml",
            "metrics-service.yaml": "metrics-service.yaml",
            "worker-deployment.yaml": "worker-deployment.yaml",
            "worker-pdb.yaml": "worker-pdb.yaml",
            "beat-deployment.yaml": "beat-deployment.yaml",
            "migrate-job.yaml": "jobs/migrate.yaml",
        },
    ),
    (
        FLUX,
        {
            "flux-actions-clusterrole.yaml": "flux-actions/clusterrole.yaml",
            "flux-actions-bindings.yaml": "flux-actions/clusterrolebinding.yaml",
        },
    ),
    (
        (*FLUX, "rbac.fluxActions.scope=namespaces", "rbac.fluxActions.namespaces={payments}"),
        {"flux-actions-bindings.yaml": "flux-actions/rolebinding-example.yaml"},
    ),
]


def helm_binary() -> str:
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-helm.sh"), "--print"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[0]


def split_by_template(rendered: str) -> dict[str, str]:
    """`helm template` output -> {template file name: its documents}, `# Source:` lines dropped."""
    files: dict[str, list[str]] = {}
    for document in rendered.split("\n---\n"):
        lines = document.strip("\n").splitlines()
        if lines and lines[0] == "---":
            lines = lines[1:]
        if not lines or not lines[0].startswith("# Source: "):
            continue
        template = lines[0].removeprefix("# Source: ").split("/templates/", 1)[1]
        body = "\n".join(lines[1:]).strip("\n")
        if body:
            files.setdefault(template, []).append(body + "\n")
    return {name: "---\n".join(parts) for name, parts in files.items()}


def render(helm: str) -> dict[str, str]:
    """deploy/ file (relative path) -> its text."""
    out: dict[str, str] = {}
    for sets, mapping in RENDERS:
        args = [helm, "template", "shirube", str(CHART), "--namespace", "shirube"]
        args += ["-f", str(CHART / "ci" / "deploy-values.yaml")]
        for value in sets:
            args += ["--set", value]
        rendered = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        by_template = split_by_template(rendered)
        for template in by_template:
            if template not in mapping and not sets:
                raise SystemExit(
                    f"render_deploy: {template} has output but no file in deploy/: add it to RENDERS"
                )
        for template, target in mapping.items():
            if template not in by_template:
                raise SystemExit(
                    f"render_deploy: {template} rendered nothing with {sets or 'the deploy values'}"
                )
            out[target] = HEADER + by_template[template]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = render(helm_binary())
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (DEPLOY / name).exists() or (DEPLOY / name).read_text() != text
        ]
        if stale:
            print(
                f"deploy/ differs from the chart: {', '.join(stale)}; run scripts/render_deploy.py",
                file=sys.stderr,
            )
            return 1
        return 0
    for name, text in files.items():
        path = DEPLOY / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"render_deploy: wrote {len(files)} files under deploy/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""deploy/flux-actions/: patch on the Flux kinds the actions touch, and nothing else."""

from pathlib import Path

import yaml

from apps.clusters.flux_actions import ACTIONABLE
from apps.clusters.kube import FLUX_KINDS, FLUX_PLURALS

FOLDER = Path(__file__).resolve().parents[2] / "deploy" / "flux-actions"


def test_the_flux_actions_role_grants_get_and_patch_on_the_actionable_kinds_only():
    (role,) = yaml.safe_load_all((FOLDER / "clusterrole.yaml").read_text())
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    group_of = {kind: group for group, kinds in FLUX_KINDS.items() for kind in kinds}
    expected = {(group_of[k], FLUX_PLURALS[k], verb) for k in ACTIONABLE for verb in ("get", "patch")}
    assert granted == expected
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in role["rules"])


def test_both_binding_options_point_at_the_role_and_the_shirube_service_account():
    for name in ("clusterrolebinding.yaml", "rolebinding-example.yaml"):
        (binding,) = yaml.safe_load_all((FOLDER / name).read_text())
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "shirube-flux-actions",
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shirube", "namespace": "shirube"}]
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["clusterrole.yaml", "clusterrolebinding.yaml"]

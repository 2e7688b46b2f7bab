"""Shirube's service account on the real API server, bound to the roles deploy/ ships, as a kubeconfig."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from kubernetes import client

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _apply(api, doc: dict) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    create = {
        "ClusterRole": rbac.create_cluster_role,
        "ClusterRoleBinding": rbac.create_cluster_role_binding,
    }[doc["kind"]]
    try:
        create(doc)
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise


def shirube_service_account(
    real_kube, admin, *, suffix: str, action_namespaces: list[str], path: Path
) -> Path:
    """A `shirube` service account with the read-only sync role cluster-wide and the Flux-action
    role in `action_namespaces` only; writes a kubeconfig with its token to `path`."""
    for doc in yaml.safe_load_all((DEPLOY / "flux-actions" / "clusterrole.yaml").read_text()):
        _apply(admin, doc)
    for doc in yaml.safe_load_all((DEPLOY / "clusterrole.yaml").read_text()):
        _apply(admin, doc)  # the read-only sync role
    home = f"shirube-{suffix}"
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespace({"metadata": {"name": home}})
    core.create_namespaced_service_account(home, {"metadata": {"name": "shirube"}})
    subject = [{"kind": "ServiceAccount", "name": "shirube", "namespace": home}]
    rbac.create_cluster_role_binding({
        "metadata": {"name": f"sync-{suffix}"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shirube-sync"},
    })  # fmt: skip
    for namespace in action_namespaces:
        rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": "shirube-flux-actions"}, "subjects": subject,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "shirube-flux-actions"},
        })  # fmt: skip
    token = core.create_namespaced_service_account_token(
        "shirube", home, {"spec": {"expirationSeconds": 3600}}
    )
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "real", "cluster": {"server": real_kube.server,
                                                  "certificate-authority": str(real_kube.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "real", "user": "sa"}}],
    }))  # fmt: skip
    time.sleep(1)  # RBAC changes reach the authorizer's cache asynchronously
    return path

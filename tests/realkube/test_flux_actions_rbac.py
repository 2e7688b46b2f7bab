"""The Flux-action role is enough for every action, and only where it is bound."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from apps.clusters import actions, kube, sync
from apps.clusters.models import FluxObject
from apps.clusters.services import cluster_declare
from kubesim.flux import flux_demo_objects
from tests.factories import UserFactory
from tests.realkube.seed import seed_objects
from tests.realkube.test_flux_actions_real import fake_flux_controller

pytestmark = pytest.mark.django_db
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


def _flux_namespace(api, namespace: str) -> None:
    objects = [o for o in flux_demo_objects() if o["metadata"]["namespace"] == "flux-system"]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    seed_objects(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *objects])


def test_every_action_works_where_the_role_is_bound_and_is_refused_elsewhere(
    real_kube, tmp_path, monkeypatch
):
    monkeypatch.setattr(actions, "POLL_SECONDS", 0.2)
    admin = real_kube.api_client()
    suffix = uuid.uuid4().hex[:6]
    granted, other, home = f"granted-{suffix}", f"other-{suffix}", f"shirube-{suffix}"
    for doc in yaml.safe_load_all((DEPLOY / "flux-actions" / "clusterrole.yaml").read_text()):
        _apply(admin, doc)
    for doc in yaml.safe_load_all((DEPLOY / "clusterrole.yaml").read_text()):
        _apply(admin, doc)  # the read-only sync role
    _flux_namespace(admin, granted)
    _flux_namespace(admin, other)
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespace({"metadata": {"name": home}})
    core.create_namespaced_service_account(home, {"metadata": {"name": "shirube"}})
    subject = [{"kind": "ServiceAccount", "name": "shirube", "namespace": home}]
    rbac.create_cluster_role_binding({
        "metadata": {"name": f"sync-{suffix}"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shirube-sync"},
    })  # fmt: skip
    rbac.create_namespaced_role_binding(granted, {
        "metadata": {"name": "shirube-flux-actions"}, "subjects": subject,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "shirube-flux-actions"},
    })  # fmt: skip
    token = core.create_namespaced_service_account_token(
        "shirube", home, {"spec": {"expirationSeconds": 3600}}
    )
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "real", "cluster": {"server": real_kube.server, "certificate-authority": str(real_kube.ca_file)}}],
        "users": [{"name": "sa", "user": {"token": token.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "real", "user": "sa"}}],
    }))  # fmt: skip
    import time

    time.sleep(1)  # RBAC changes reach the authorizer's cache asynchronously
    cluster = cluster_declare(name=f"sa-{suffix}", connection="kubeconfig", kubeconfig_path=str(kubeconfig))[
        0
    ]
    result = sync.cluster_sync(cluster=cluster)
    assert result.kinds["kustomizations"].status == "ok", result.kinds["kustomizations"].error
    sre = UserFactory(is_superuser=True, is_staff=True)

    def kustomization(namespace):
        return FluxObject.objects.select_related("cluster").get(
            cluster=cluster, namespace=namespace, kind="Kustomization", name="payments-apps"
        )

    mine = kustomization(granted)
    path = kube.object_path(mine.api_version, mine.kind, mine.namespace, mine.name)
    suspend = actions.flux_action_request(user=sre, obj=mine, action="suspend", reason="RBAC proof")
    assert actions.flux_action_run(action_id=suspend.pk).status == "succeeded"
    sync.cluster_sync(cluster=cluster)
    stop = threading.Event()
    thread = threading.Thread(target=fake_flux_controller, args=(admin, path, stop), daemon=True)
    thread.start()
    try:
        resume = actions.flux_action_request(user=sre, obj=kustomization(granted), action="resume")
        assert actions.flux_action_run(action_id=resume.pk, timeout=20).status == "succeeded"
        reconcile = actions.flux_action_request(user=sre, obj=kustomization(granted), action="reconcile")
        assert actions.flux_action_run(action_id=reconcile.pk, timeout=20).status == "succeeded"
    finally:
        stop.set()
        thread.join()

    refused = actions.flux_action_request(
        user=sre, obj=kustomization(other), action="suspend", reason="outside"
    )
    done = actions.flux_action_run(action_id=refused.pk)
    assert done.status == "failed" and done.message.startswith("403"), done.message
    assert "system:serviceaccount:" in done.message and "patch" in done.message
    untouched = kube.get_object(
        admin, kube.object_path(mine.api_version, "Kustomization", other, "payments-apps")
    )
    assert not untouched["spec"].get("suspend")

"""The in-cluster connection, with a real service-account token from the TokenRequest API."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from kubernetes import client

from apps.clusters import sync
from apps.clusters.models import Pod
from apps.clusters.services import cluster_declare
from tests.realkube.seed import seed_objects

pytestmark = pytest.mark.django_db


def _service_account_token(api, namespace: str, name: str) -> str:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=f"{namespace}-{name}"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)],
        )
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    return core.create_namespaced_service_account_token(name, namespace, request).status.token


def test_the_in_cluster_connection_syncs_with_a_service_account_token(
    real_kube, tmp_path, settings, monkeypatch
):
    api = real_kube.api_client()
    namespace = f"incluster-{uuid.uuid4().hex[:6]}"
    token = _service_account_token(api, namespace, "shirube")
    assert token.count(".") == 2  # a JWT signed by the server's service-account key
    (tmp_path / "token").write_text(token)
    settings.SHIRUBE_INCLUSTER_TOKEN_FILE = str(tmp_path / "token")
    settings.SHIRUBE_INCLUSTER_CA_FILE = str(real_kube.ca_file)
    server = urlsplit(real_kube.server)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    seed_objects(
        api,
        [
            {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "probe", "namespace": namespace},
                "spec": {"containers": [{"name": "c", "image": "registry.example.com/app:1.0"}]},
                "status": {"phase": "Running"},
            }
        ],
    )  # fmt: skip
    cluster = cluster_declare(name="in-cluster", connection="in_cluster")[0]
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "ok", {k: v.error for k, v in result.kinds.items() if v.error}
    assert Pod.objects.filter(cluster=cluster, namespace=namespace, name="probe", phase="Running").exists()


def test_a_rejected_token_stops_the_sync_and_keeps_the_data(real_kube, tmp_path, settings, monkeypatch):
    (tmp_path / "token").write_text("not-a-valid-token")
    settings.SHIRUBE_INCLUSTER_TOKEN_FILE = str(tmp_path / "token")
    settings.SHIRUBE_INCLUSTER_CA_FILE = str(real_kube.ca_file)
    server = urlsplit(real_kube.server)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    cluster = cluster_declare(name="bad-token", connection="in_cluster")[0]
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "failed"
    assert result.run.error.startswith("401 credentials rejected")
    cluster.refresh_from_db()
    assert cluster.last_error.endswith("(HTTP 401)")  # what pages show
    assert cluster.last_error_detail.startswith("401 credentials rejected")  # what SREs see

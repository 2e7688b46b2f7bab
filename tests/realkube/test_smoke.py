"""Smoke tests: the real kube-apiserver answers through the official Python client.

Everything goes over HTTPS with the generated kubeconfig (admin bearer token, the
server's own certificate as CA). No controllers run, so the tests write statuses.
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.realkube.conftest import skip_or_fail

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def core(real_kube):
    return client.CoreV1Api(real_kube.api_client())


@pytest.fixture
def namespace(core):
    name = _name("smoke")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _pod(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "smoke"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.27")]),
    )


def test_version_is_the_pinned_release(real_kube):
    info = client.VersionApi(real_kube.api_client()).get_code()
    assert info.git_version == real_kube.kube_version
    assert info.major == "1"
    assert info.minor == real_kube.kube_version.split(".")[1]


def test_pod_status_is_written_through_the_status_subresource(core, namespace):
    core.create_namespaced_pod(namespace, _pod("web"))
    pod = core.read_namespaced_pod("web", namespace)
    assert pod.status.phase == "Pending"  # nothing schedules it
    assert pod.spec.node_name is None

    # Status on the main resource is ignored by the server...
    core.patch_namespaced_pod("web", namespace, {"status": {"phase": "Running"}})
    assert core.read_namespaced_pod("web", namespace).status.phase == "Pending"

    # ...and written through the status subresource.
    core.patch_namespaced_pod_status(
        "web",
        namespace,
        {
            "status": {
                "phase": "Running",
                "podIP": "10.0.0.17",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
    )
    pod = core.read_namespaced_pod("web", namespace)
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip == "10.0.0.17"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("Ready", "True")]


def test_list_follows_continue_tokens(core, namespace):
    names = {f"pod-{i}" for i in range(4)}
    for name in names:
        core.create_namespaced_pod(namespace, _pod(name))

    seen, pages, token = [], 0, None
    while True:
        page = core.list_namespaced_pod(namespace, limit=1, _continue=token)
        pages += 1
        assert len(page.items) == 1
        seen += [pod.metadata.name for pod in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == len(names) - len(seen)
    assert pages == len(names)
    assert sorted(seen) == sorted(names)


def test_flux_crds_are_served(real_kube, namespace):
    if not real_kube.flux_crds:
        skip_or_fail("Flux CRDs not installed: ../shared/flux-crds/ not found")
    api = real_kube.api_client()

    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert FLUX_KUSTOMIZE_GROUP in groups
    versions = [v.version for v in groups[FLUX_KUSTOMIZE_GROUP].versions]
    assert "v1" in versions
    version = groups[FLUX_KUSTOMIZE_GROUP].preferred_version.version
    resources = client.CustomObjectsApi(api).get_api_resources(FLUX_KUSTOMIZE_GROUP, version)
    by_name = {r.name: r for r in resources.resources}
    assert by_name["kustomizations"].kind == "Kustomization"
    assert "kustomizations/status" in by_name

    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{FLUX_KUSTOMIZE_GROUP}/{version}",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        },
    }
    custom.create_namespaced_custom_object(FLUX_KUSTOMIZE_GROUP, version, namespace, "kustomizations", body)

    # The real schema validates: `prune` and `sourceRef` are required.
    invalid = {**body, "metadata": {"name": "broken"}, "spec": {"interval": "10m"}}
    with pytest.raises(ApiException) as error:
        custom.create_namespaced_custom_object(
            FLUX_KUSTOMIZE_GROUP, version, namespace, "kustomizations", invalid
        )
    assert error.value.status == 422

    status = {
        "status": {
            "observedGeneration": 1,
            "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ReconciliationSucceeded",
                    "message": "Applied revision: main@sha1:0123456",
                    "lastTransitionTime": "2026-11-25T10:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }
    custom.patch_namespaced_custom_object_status(
        FLUX_KUSTOMIZE_GROUP, version, namespace, "kustomizations", "apps", status
    )
    obj = custom.get_namespaced_custom_object(
        FLUX_KUSTOMIZE_GROUP, version, namespace, "kustomizations", "apps"
    )
    assert obj["status"]["conditions"][0]["reason"] == "ReconciliationSucceeded"
    assert obj["spec"]["sourceRef"]["name"] == "flux-system"


def test_impersonated_service_account_is_forbidden_secrets(real_kube, core, namespace):
    user = f"system:serviceaccount:{namespace}:reader"
    rbac = client.RbacAuthorizationV1Api(real_kube.api_client())
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="reader-pods"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        ),
    )
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"pw": "x"})
    )

    as_reader = client.CoreV1Api(real_kube.api_client(impersonate=user))
    assert as_reader.list_namespaced_pod(namespace).items == []  # the Role allows this
    with pytest.raises(ApiException) as error:
        as_reader.list_namespaced_secret(namespace)
    assert error.value.status == 403
    assert user in error.value.body

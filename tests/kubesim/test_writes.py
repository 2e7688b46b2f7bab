import orjson
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubesim import objects as o
from tests.kubesim.conftest import raw


@pytest.fixture
def apps(sim, api):
    sim.store.create(o.namespace("payments"))
    for obj in o.deployment("payments", "checkout-api", "registry/checkout:v1", 2).objects():
        sim.store.create(obj)
    return client.AppsV1Api(api)


def status_of(exc: ApiException) -> dict:
    return orjson.loads(exc.body)


def test_create_assigns_uid_timestamp_generation_and_a_newer_resource_version(sim, api):
    sim.store.create(o.namespace("payments"))
    before = sim.store.resource_version

    created = client.CoreV1Api(api).create_namespaced_config_map(
        "payments",
        {"metadata": {"name": "settings", "uid": "chosen-by-client"}, "data": {"a": "1"}},
    )

    assert created.metadata.uid and created.metadata.uid != "chosen-by-client"
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.generation == 1
    assert int(created.metadata.resource_version) > before
    assert sim.store.get("configmaps", "payments", "settings")["data"] == {"a": "1"}


def test_creating_an_existing_name_is_a_409_already_exists(apps):
    body = {
        "metadata": {"name": "checkout-api"},
        "spec": {"replicas": 1, "selector": {}, "template": {}},
    }

    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("payments", body)

    assert caught.value.status == 409
    status = status_of(caught.value)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'deployments.apps "checkout-api" already exists'
    assert status["details"] == {"name": "checkout-api", "group": "apps", "kind": "deployments"}


def test_creating_in_a_missing_namespace_is_a_404(sim, api):
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})

    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'namespaces "nowhere" not found'


def test_a_missing_object_is_a_404_not_found_status(apps):
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("ghost", "payments")

    status = status_of(caught.value)
    assert caught.value.status == 404
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "ghost" not found',
        "reason": "NotFound",
        "details": {"name": "ghost", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_merge_patch_changes_spec_bumps_generation_and_ignores_status(apps):
    before = apps.read_namespaced_deployment("checkout-api", "payments")

    patched = apps.patch_namespaced_deployment(
        "checkout-api",
        "payments",
        {
            "spec": {"replicas": 5},
            "status": {"replicas": 99},
            "metadata": {"labels": {"app": None, "tier": "api"}},
        },
    )

    assert patched.spec.replicas == 5
    assert patched.metadata.generation == before.metadata.generation + 1
    assert patched.status.replicas == before.status.replicas
    assert patched.metadata.labels == {"tier": "api"}
    assert int(patched.metadata.resource_version) > int(before.metadata.resource_version)


def test_the_clients_default_patch_merges_containers_by_name(apps):
    # A dict body goes out as a strategic merge patch: one container's image
    # changes and the rest of the container survives.
    patched = apps.patch_namespaced_deployment(
        "checkout-api",
        "payments",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "checkout-api", "image": "registry/checkout:v2"}]}
                }
            }
        },
    )

    [container] = patched.spec.template.spec.containers
    assert container.image == "registry/checkout:v2"
    assert container.readiness_probe is not None
    assert any(e.name == "DATABASE_PASSWORD" for e in container.env)


def test_an_explicit_merge_patch_replaces_lists(apps):
    patched = apps.patch_namespaced_deployment(
        "checkout-api",
        "payments",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "checkout-api", "image": "registry/checkout:v2"}]}
                }
            }
        },
        _content_type="application/merge-patch+json",
    )

    [container] = patched.spec.template.spec.containers
    assert container.readiness_probe is None


def test_a_metadata_only_patch_leaves_generation_alone(apps):
    patched = apps.patch_namespaced_deployment(
        "checkout-api", "payments", {"metadata": {"annotations": {"note": "hi"}}}
    )

    assert patched.metadata.generation == 1
    assert patched.metadata.annotations["note"] == "hi"


def test_status_patch_changes_only_status(apps):
    patched = apps.patch_namespaced_deployment_status(
        "checkout-api", "payments", {"status": {"readyReplicas": 1}, "spec": {"replicas": 9}}
    )

    assert patched.status.ready_replicas == 1
    assert patched.spec.replicas == 2
    assert patched.metadata.generation == 1


def test_status_replace_changes_only_status(apps):
    current = apps.read_namespaced_deployment_status("checkout-api", "payments")
    current.status.replicas = 7
    current.spec.replicas = 11

    replaced = apps.replace_namespaced_deployment_status("checkout-api", "payments", current)

    assert replaced.status.replicas == 7
    assert replaced.spec.replicas == 2


def test_replace_ignores_status_and_checks_the_resource_version(apps):
    current = apps.read_namespaced_deployment("checkout-api", "payments")
    current.spec.replicas = 4
    current.status.replicas = 40

    replaced = apps.replace_namespaced_deployment("checkout-api", "payments", current)

    assert replaced.spec.replicas == 4
    assert replaced.status.replicas == 2
    # `current` still carries the old resourceVersion: a second write conflicts.
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("checkout-api", "payments", current)
    assert caught.value.status == 409
    assert status_of(caught.value)["reason"] == "Conflict"
    assert "the object has been modified" in status_of(caught.value)["message"]


@pytest.mark.parametrize("content_type", ["application/json-patch+json", "application/apply-patch+yaml"])
def test_json_and_apply_patches_are_refused_as_unsupported_media(apps, api, content_type):
    body = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    path = "/apis/apps/v1/namespaces/payments/deployments/checkout-api"
    status, answer = raw(api, "PATCH", path, body=body, content_type=content_type)

    assert status == 415
    assert answer["reason"] == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" in answer["message"]
    assert apps.read_namespaced_deployment("checkout-api", "payments").spec.replicas == 2


def test_deletes_are_refused_and_change_nothing(sim, apps):
    with pytest.raises(ApiException) as caught:
        apps.delete_namespaced_deployment("checkout-api", "payments")

    assert caught.value.status == 405
    assert status_of(caught.value)["reason"] == "MethodNotAllowed"
    assert len(sim.store.list("pods", "payments")) == 2


def test_posting_to_an_object_path_is_not_allowed(apps, api):
    status, body = raw(api, "POST", "/apis/apps/v1/namespaces/payments/deployments/checkout-api", body={})

    assert status == 405
    assert body["reason"] == "MethodNotAllowed"


def test_namespaces_carry_their_name_label_as_on_the_real_server():
    from kubesim.store import Store

    store = Store()
    store.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "a", "labels": {"kubernetes.io/metadata.name": "wrong"}},
        }
    )
    assert store.get("namespaces", None, "a")["metadata"]["labels"]["kubernetes.io/metadata.name"] == "a"

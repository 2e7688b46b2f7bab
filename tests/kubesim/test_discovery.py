from kubernetes import client

from kubesim import objects as o
from tests.kubesim.conftest import raw


def test_group_list_names_each_group_with_its_preferred_version(api):
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}

    assert set(groups) >= {"apps", "batch", "policy"}
    assert groups["apps"].preferred_version.group_version == "apps/v1"


def test_group_version_lists_its_resources(api):
    status, body = raw(api, "GET", "/apis/apps/v1")

    assert status == 200
    assert body["kind"] == "APIResourceList"
    assert body["groupVersion"] == "apps/v1"
    names = {r["name"] for r in body["resources"]}
    assert {"deployments", "deployments/status", "replicasets", "statefulsets"} <= names
    deployments = next(r for r in body["resources"] if r["name"] == "deployments")
    assert deployments["verbs"] == ["create", "get", "list", "patch", "update", "watch"]


def test_registered_custom_resource_appears_in_discovery(sim, api):
    sim.registry.register_resource(
        "kustomize.toolkit.fluxcd.io", ["v1", "v1beta2"], "Kustomization", "kustomizations"
    )

    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    flux = groups["kustomize.toolkit.fluxcd.io"]
    assert [v.version for v in flux.versions] == ["v1", "v1beta2"]
    assert flux.preferred_version.version == "v1"
    status, body = raw(api, "GET", "/apis/kustomize.toolkit.fluxcd.io/v1beta2")
    assert status == 200
    assert body["resources"][0]["kind"] == "Kustomization"


def test_custom_objects_are_served_in_every_registered_version(sim, api):
    sim.registry.register_resource(
        "kustomize.toolkit.fluxcd.io", ["v1", "v1beta2"], "Kustomization", "kustomizations"
    )
    sim.store.create(o.namespace("flux-system"))
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "flux-system",
        "kustomizations",
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {"interval": "10m", "path": "./apps"},
        },
    )

    listed = custom.list_cluster_custom_object("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
    old = custom.get_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1beta2", "flux-system", "kustomizations", "apps"
    )

    # Custom resource lists carry kind and apiVersion on each item (built-in lists do not).
    assert listed["kind"] == "KustomizationList"
    assert listed["items"][0]["kind"] == "Kustomization"
    assert listed["items"][0]["spec"]["path"] == "./apps"
    assert old["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1beta2"


def test_builtin_list_items_carry_no_kind(sim, api):
    sim.store.create(o.namespace("payments"))

    status, body = raw(api, "GET", "/api/v1/namespaces")

    assert status == 200
    assert body["kind"] == "NamespaceList"
    assert body["apiVersion"] == "v1"
    assert "kind" not in body["items"][0]


def test_unknown_group_version_or_resource_is_a_404_status(api):
    for path in (
        "/apis/nope.example.com/v1",
        "/apis/apps/v9",
        # Discovery the portal never reads is not served (the core group's, /version).
        "/api",
        "/api/v1",
        "/apis/apps",
        "/version",
        "/api/v1/widgets",
        "/apis/apps/v1/widgets",
    ):
        status, body = raw(api, "GET", path)

        assert status == 404, path
        assert body["kind"] == "Status"
        assert body["reason"] == "NotFound"
        assert body["code"] == 404

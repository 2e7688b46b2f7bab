"""Flux objects in the sync: versions discovered from the cluster, never pinned."""

from __future__ import annotations

import pytest

from apps.clusters import sync
from apps.clusters.models import FluxObject
from apps.clusters.services import cluster_declare
from kubesim.flux import flux_demo_objects, register_flux
from kubesim.server import Simulator
from kubesim.store import Store

pytestmark = pytest.mark.django_db


def test_the_demo_flux_objects_are_synced_with_what_the_pages_show(cluster):
    result = sync.cluster_sync(cluster=cluster)
    assert result.kinds["kustomizations"].status == "ok"
    failing = FluxObject.objects.get(kind="Kustomization", name="search-apps")
    assert (failing.ready_status, failing.ready_reason) == ("False", "BuildFailed")
    assert "kustomize build failed" in failing.ready_message
    assert failing.target_namespace == "search" and failing.path == "./apps/search/staging"
    assert failing.source_ref == {"kind": "GitRepository", "name": "gitops", "namespace": "flux-system"}
    assert failing.last_attempted_revision.startswith("main@sha1:")
    source = FluxObject.objects.get(kind="GitRepository", name="gitops")
    assert source.artifact_revision.startswith("main@sha1:3f2a1c9") and source.ready_status == "True"
    release = FluxObject.objects.get(kind="HelmRelease", name="payments-cache")
    assert release.details["history"]["chartVersion"] == "20.2.1"
    assert release.details["released"]["status"] == "False"
    assert release.details["remediated"]["reason"] == "RollbackSucceeded"
    assert release.source_ref["kind"] == "HelmRepository"
    policy = FluxObject.objects.get(kind="ImagePolicy")
    assert policy.details["tag"] == "main-3f2a1c9-1764150000"
    repository = FluxObject.objects.get(kind="ImageRepository")
    assert repository.details["tagCount"] == 42
    assert all(o.api_version.endswith(("/v1", "/v2")) for o in FluxObject.objects.all())


def _cluster_for(store: Store, tmp_path, name: str):
    sim = Simulator(store, token="t").start()
    path = sim.write_kubeconfig(tmp_path / f"{name}.kubeconfig")
    return sim, cluster_declare(name=name, connection="kubeconfig", kubeconfig_path=str(path))[0]


def test_an_older_flux_that_serves_only_beta_versions_still_syncs(tmp_path):
    store = Store()
    register_flux(
        store.registry,
        versions={
            "helm.toolkit.fluxcd.io": ["v2beta2", "v2beta1"],
            "kustomize.toolkit.fluxcd.io": ["v1beta2"],
        },
    )
    for obj in flux_demo_objects():
        if obj["kind"] == "HelmRelease":
            obj["apiVersion"] = "helm.toolkit.fluxcd.io/v2beta2"
        if obj["kind"] == "Kustomization":
            obj["apiVersion"] = "kustomize.toolkit.fluxcd.io/v1beta2"
        store.create(obj)
    sim, cluster = _cluster_for(store, tmp_path, "old-flux")
    try:
        result = sync.cluster_sync(cluster=cluster)
    finally:
        sim.stop()
    assert result.kinds["helmreleases"].status == "ok"
    assert sim.requests.count("GET", "/apis/helm.toolkit.fluxcd.io/v2beta2/helmreleases") >= 1
    release = FluxObject.objects.get(cluster=cluster, kind="HelmRelease")
    assert release.api_version == "helm.toolkit.fluxcd.io/v2beta2"
    assert FluxObject.objects.filter(cluster=cluster, kind="Kustomization").count() == 3


def test_a_cluster_without_flux_is_fine(tmp_path):
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    sim, cluster = _cluster_for(store, tmp_path, "no-flux")
    try:
        result = sync.cluster_sync(cluster=cluster)
    finally:
        sim.stop()
    assert result.run.status == "ok"
    assert not any(key.endswith(("kustomizations", "helmreleases")) for key in result.kinds)
    assert not FluxObject.objects.filter(cluster=cluster).exists()


def test_a_403_on_one_flux_kind_keeps_the_others(cluster, sim):
    sim.add_fault(r"/apis/helm.toolkit.fluxcd.io/v2/helmreleases", status=403)
    result = sync.cluster_sync(cluster=cluster)
    assert result.kinds["helmreleases"].status == "error"
    assert result.kinds["kustomizations"].status == "ok"
    assert FluxObject.objects.filter(kind="Kustomization").count() == 3


def test_deleted_flux_objects_are_deleted_here(cluster, sim):
    sync.cluster_sync(cluster=cluster)
    assert FluxObject.objects.filter(kind="ImagePolicy").exists()
    for obj in sim.store.list("imagepolicies.image.toolkit.fluxcd.io"):
        sim.store.delete(
            "imagepolicies.image.toolkit.fluxcd.io", obj["metadata"]["namespace"], obj["metadata"]["name"]
        )
    sync.cluster_sync(cluster=cluster)
    assert not FluxObject.objects.filter(kind="ImagePolicy").exists()


def test_the_flux_page_shows_the_teams_tree_failing_first_with_lessons(client_for, cluster, teams):
    from tests.factories import LessonFactory, MembershipFactory, UserFactory

    lesson = LessonFactory(title="GitOps: sources and Kustomizations", related_reasons=["BuildFailed"])
    sync.cluster_sync(cluster=cluster)
    bob = MembershipFactory(team=teams["search"], user=UserFactory(username="bob")).user
    html = client_for(bob).get("/teams/search/flux/").content.decode()
    assert "flux-system/search-apps" in html and "Not ready: BuildFailed" in html
    assert "kustomize build failed" in html
    assert f"/learn/{lesson.phase.slug}/{lesson.slug}/" in html
    assert "flux-system/gitops" in html  # the source it uses, shown with it
    assert "payments-apps" not in html and "payments-cache" not in html  # another team's
    payments = client_for(bob).get("/teams/payments/flux/").content.decode()
    assert "payments/payments-cache" in payments and "last release failed: UpgradeFailed" in payments
    assert "remediated: RollbackSucceeded" in payments and "main-3f2a1c9-1764150000" in payments
    assert payments.index("payments-cache") < payments.index("payments-apps")  # failing first


def test_the_flux_page_makes_no_api_requests(client_for, cluster, teams, sim):
    from tests.factories import UserFactory

    sync.cluster_sync(cluster=cluster)
    sim.reset_requests()
    client = client_for(UserFactory())
    assert client.get("/teams/payments/flux/").status_code == 200
    assert client.get("/teams/payments/flux/", HTTP_HX_REQUEST="true").status_code == 200
    assert sim.requests.total == 0

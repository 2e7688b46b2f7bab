"""A deployment against the real kube-apiserver with the real Flux CRDs, as Shirube's least-privileged
service account: the reconcile request and every read the state machine makes go through the real
schemas and RBAC; a stand-in for Flux and the kubelet
writes what they would (the Kustomization's applied revision, new pods on the tag).
"""

from __future__ import annotations

import uuid

import pytest
from kubernetes import client as k8s

from apps.clusters import kube, sync
from apps.clusters.flux_runner import REQUESTED_AT
from apps.clusters.services import cluster_declare
from apps.environments import runner, services
from apps.environments.models import Deployment, Environment
from kubesim import objects as o
from kubesim.demo_repo import demo_repo_init
from kubesim.flux import flux_demo_objects
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.realkube.rbac import shirube_service_account
from tests.realkube.seed import seed_objects

pytestmark = pytest.mark.django_db
IMAGE = f"{o.REGISTRY}/payments/checkout-api"
TAG = "feature-x-3f2a1c9-1732600000"


def _flux_objects(flux_ns: str, app_ns: str) -> list[dict]:
    result = []
    for obj in flux_demo_objects():
        if obj["kind"] in ("GitRepository", "Kustomization") and obj["metadata"]["name"] in (
            "gitops",
            "payments-staging",
        ):
            obj["metadata"]["namespace"] = flux_ns
            if obj["kind"] == "Kustomization":
                obj["spec"]["targetNamespace"] = app_ns
            result.append(obj)
    return result


def test_a_deploy_reaches_healthy_through_the_real_api_server(real_kube, tmp_path, settings):
    suffix = uuid.uuid4().hex[:6]
    flux_ns, app_ns = f"flux-{suffix}", f"app-{suffix}"
    api = real_kube.api_client()
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": n, "labels": {"team": f"payments-{suffix}"}},
        }
        for n in (flux_ns, app_ns)
    ]
    old = o.deployment(app_ns, "checkout-api", f"{IMAGE}:v2.15.0-rc.1", 2).objects()
    seed_objects(api, [*namespaces, *_flux_objects(flux_ns, app_ns), *old])

    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "work"
    repo = tmp_path / "gitops.git"
    demo_repo_init(repo)
    team = TeamFactory(slug=f"payments-{suffix}")
    alice = MembershipFactory(team=team, user=UserFactory(username=f"alice-{suffix}")).user
    # Shirube connects as its own service account, with only the roles deploy/ ships: the
    # read-only sync role, and the Flux-action role where the Kustomization and its source live.
    kubeconfig = shirube_service_account(
        real_kube, api, suffix=suffix, action_namespaces=[flux_ns], path=tmp_path / "sa.kubeconfig"
    )
    cluster = cluster_declare(
        name=f"real-{suffix}", connection="kubeconfig", kubeconfig_path=str(kubeconfig)
    )[0]
    sync.cluster_sync(cluster=cluster)
    environment = Environment.objects.create(
        team=team, app="checkout-api", stage="staging", cluster=cluster, namespace=app_ns,
        kustomization=f"{flux_ns}/payments-staging", repo_url=str(repo),
        kustomization_path="apps/payments/staging/kustomization.yaml", image=IMAGE,
    )  # fmt: skip
    deployment = services.deployment_request(user=alice, environment=environment, kind="deploy", tag=TAG,
                                             idempotency_key=f"real-{suffix}")  # fmt: skip

    def step() -> str:
        runner.deployment_advance(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        return deployment.status

    assert step() == "committed"
    assert step() == "reconciling"
    kustomization_path = kube.object_path(
        "kustomize.toolkit.fluxcd.io/v1", "Kustomization", flux_ns, "payments-staging"
    )
    source_path = kube.object_path("source.toolkit.fluxcd.io/v1", "GitRepository", flux_ns, "gitops")
    for path in (kustomization_path, source_path):
        annotations = kube.get_object(api, path)["metadata"]["annotations"]
        assert annotations[REQUESTED_AT] == deployment.reconcile_token
    assert step() == "reconciling" and "Waiting for Flux" in deployment.message

    # Flux applies the commit (status through the real status subresource and schema).
    kube.merge_patch(api, kustomization_path + "/status", {"status": {
        "lastAppliedRevision": f"main@sha1:{deployment.sha}", "lastAttemptedRevision": f"main@sha1:{deployment.sha}",
        "lastHandledReconcileAt": deployment.reconcile_token,
    }})  # fmt: skip
    assert step() == "reconciling" and deployment.applied_at is not None
    assert step() == "reconciling" and "0 of 2 pods run" in deployment.message

    # The kubelet replaces the pods: the old ones go, new ones on the tag become ready.
    core = k8s.CoreV1Api(api)
    for pod in core.list_namespaced_pod(app_ns).items:
        core.delete_namespaced_pod(pod.metadata.name, app_ns, grace_period_seconds=0)
    new = o.deployment(app_ns, "checkout-api", f"{IMAGE}:{TAG}", 2).objects()
    seed_objects(api, [p for p in new if p["kind"] == "Pod"])
    assert step() == "healthy", deployment.message
    assert deployment.message == f"All 2 pods run {TAG} and are ready."
    assert Deployment.objects.get(pk=deployment.pk).done

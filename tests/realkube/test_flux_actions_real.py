"""Every patch the portal sends is accepted by the real Flux schemas on a real API server."""

from __future__ import annotations

import threading
import uuid

import pytest

from apps.clusters import flux_actions, flux_runner, kube, sync
from apps.clusters.models import FluxObject
from apps.clusters.services import cluster_declare
from kubesim.flux import flux_demo_objects
from tests.clusters.fluxdrive import drive
from tests.factories import UserFactory
from tests.realkube.seed import seed_objects

pytestmark = pytest.mark.django_db


def fake_flux_controller(api, path: str, stop: threading.Event) -> None:
    """Acknowledge reconcile requests by writing status.lastHandledReconcileAt, as Flux does."""
    while not stop.wait(0.2):
        obj = kube.get_object(api, path)
        requested = (obj["metadata"].get("annotations") or {}).get(flux_runner.REQUESTED_AT)
        if requested and (obj.get("status") or {}).get("lastHandledReconcileAt") != requested:
            kube.merge_patch(api, path + "/status", {"status": {"lastHandledReconcileAt": requested}})


def test_reconcile_suspend_and_resume_against_the_real_flux_crds(real_kube):
    suffix = uuid.uuid4().hex[:6]
    objects = []
    for obj in flux_demo_objects():
        if obj["metadata"]["namespace"] != "flux-system":
            continue
        obj["metadata"]["namespace"] = f"flux-{suffix}"
        objects.append(obj)
    api = real_kube.api_client()
    seed_objects(
        api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"flux-{suffix}"}}, *objects]
    )
    cluster = cluster_declare(
        name=f"real-{suffix}", connection="kubeconfig", kubeconfig_path=str(real_kube.kubeconfig)
    )[0]
    assert sync.cluster_sync(cluster=cluster).kinds["kustomizations"].status == "ok"
    sre = UserFactory(is_superuser=True, is_staff=True)
    target = FluxObject.objects.select_related("cluster").get(
        cluster=cluster, namespace=f"flux-{suffix}", kind="Kustomization", name="payments-apps"
    )
    assert target.api_version == "kustomize.toolkit.fluxcd.io/v1"  # discovered, not pinned
    path = kube.object_path(target.api_version, target.kind, target.namespace, target.name)

    suspend = flux_actions.flux_action_request(user=sre, obj=target, action="suspend", reason="incident 7")
    assert drive(suspend.pk, steps=1).status == "succeeded"
    stored = kube.get_object(api, path)
    assert stored["spec"]["suspend"] is True
    assert stored["metadata"]["annotations"]["shirube.io/suspend-reason"] == "incident 7"

    sync.cluster_sync(cluster=cluster)
    target.refresh_from_db()
    stop = threading.Event()
    controller = threading.Thread(target=fake_flux_controller, args=(api, path, stop), daemon=True)
    controller.start()
    try:
        resume = flux_actions.flux_action_request(user=sre, obj=target, action="resume")
        assert drive(resume.pk, pause=0.2).status == "succeeded"
        reconcile = flux_actions.flux_action_request(user=sre, obj=target, action="reconcile")
        done = drive(reconcile.pk, pause=0.2)
    finally:
        stop.set()
        controller.join()
    assert done.status == "succeeded", done.message
    stored = kube.get_object(api, path)
    assert stored["spec"]["suspend"] is False
    assert "shirube.io/suspended-by" not in stored["metadata"].get("annotations", {})
    source = kube.get_object(
        api, kube.object_path("source.toolkit.fluxcd.io/v1", "GitRepository", f"flux-{suffix}", "gitops")
    )
    assert source["metadata"]["annotations"][flux_runner.REQUESTED_AT] == reconcile.token

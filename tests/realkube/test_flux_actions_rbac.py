"""The Flux-action role is enough for every action, and only where it is bound."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from apps.clusters import flux_actions, kube, sync
from apps.clusters.models import FluxObject
from apps.clusters.services import cluster_declare
from kubesim.flux import flux_demo_objects
from tests.clusters.fluxdrive import drive
from tests.factories import UserFactory
from tests.realkube.rbac import shirube_service_account
from tests.realkube.seed import seed_objects
from tests.realkube.test_flux_actions_real import fake_flux_controller

pytestmark = pytest.mark.django_db


def _flux_namespace(api, namespace: str) -> None:
    objects = [o for o in flux_demo_objects() if o["metadata"]["namespace"] == "flux-system"]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    seed_objects(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *objects])


def test_every_action_works_where_the_role_is_bound_and_is_refused_elsewhere(real_kube, tmp_path, caplog):
    admin = real_kube.api_client()
    suffix = uuid.uuid4().hex[:6]
    granted, other = f"granted-{suffix}", f"other-{suffix}"
    _flux_namespace(admin, granted)
    _flux_namespace(admin, other)
    kubeconfig = shirube_service_account(
        real_kube, admin, suffix=suffix, action_namespaces=[granted], path=tmp_path / "sa.kubeconfig"
    )
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
    suspend = flux_actions.flux_action_request(user=sre, obj=mine, action="suspend", reason="RBAC proof")
    assert drive(suspend.pk, steps=1).status == "succeeded"
    sync.cluster_sync(cluster=cluster)
    stop = threading.Event()
    thread = threading.Thread(target=fake_flux_controller, args=(admin, path, stop), daemon=True)
    thread.start()
    try:
        resume = flux_actions.flux_action_request(user=sre, obj=kustomization(granted), action="resume")
        assert drive(resume.pk, pause=0.2).status == "succeeded"
        reconcile = flux_actions.flux_action_request(user=sre, obj=kustomization(granted), action="reconcile")
        assert drive(reconcile.pk, pause=0.2).status == "succeeded"
    finally:
        stop.set()
        thread.join()

    refused = flux_actions.flux_action_request(
        user=sre, obj=kustomization(other), action="suspend", reason="outside"
    )
    with caplog.at_level(logging.WARNING, logger="apps.clusters.flux_runner"):
        done = drive(refused.pk, steps=1)
    assert done.status == "failed" and done.message.startswith("forbidden"), done.message
    assert "(HTTP 403)" in done.message and "system:serviceaccount:" not in done.message
    logged = " ".join(r.getMessage() for r in caplog.records)  # the server's words, for SREs
    assert "system:serviceaccount:" in logged and "patch" in logged
    untouched = kube.get_object(
        admin, kube.object_path(mine.api_version, "Kustomization", other, "payments-apps")
    )
    assert not untouched["spec"].get("suspend")

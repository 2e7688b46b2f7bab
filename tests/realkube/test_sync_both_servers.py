"""One sync test, two servers: kubesim and the real kube-apiserver must sync to the same rows.

Both are seeded with the same objects (the demo teams, renamed into namespaces
of their own), synced by the portal through the same code, with a page size
small enough that every kind paginates. If kubesim drifts from the real API
(shapes, pagination, defaults the portal relies on), this fails.
"""

from __future__ import annotations

import uuid

import pytest

from apps.clusters import sync
from apps.clusters.models import FluxObject, Namespace, Pod, ServiceAccount, WarningEvent, Workload
from apps.clusters.services import cluster_declare
from kubesim.demo import seed_demo
from kubesim.flux import register_flux
from kubesim.server import Simulator
from kubesim.store import Store
from tests.realkube.seed import ORDER, seed_objects

pytestmark = pytest.mark.django_db


def demo_objects(suffix: str) -> list[dict]:
    """The demo's objects, every namespace renamed with a suffix (the real server keeps namespaces forever)."""
    store = Store()
    seed_demo(store)
    objects = []
    for kind_objects in (store.list(ref) for ref in _refs()):
        for obj in kind_objects:
            meta = obj["metadata"]
            if obj["kind"] == "Namespace":
                meta["name"] = f"{meta['name']}-{suffix}"
            elif meta.get("namespace"):
                meta["namespace"] = f"{meta['namespace']}-{suffix}"
                if obj["kind"] == "Event":
                    obj["involvedObject"]["namespace"] = meta["namespace"]
            objects.append(obj)
    return objects


def _refs():
    return [
        "namespaces", "serviceaccounts", "deployments.apps", "statefulsets.apps", "daemonsets.apps",
        "cronjobs.batch", "replicasets.apps", "jobs.batch", "pods", "poddisruptionbudgets.policy", "events",
        "gitrepositories.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io",
        "imagerepositories.image.toolkit.fluxcd.io", "imagepolicies.image.toolkit.fluxcd.io",
    ]  # fmt: skip


def snapshot(cluster, suffix: str) -> dict:
    """What the portal stored, without server-assigned values (uids, versions, times)."""

    def mine(qs):
        return qs.filter(cluster=cluster, namespace__endswith=f"-{suffix}")

    return {
        "namespaces": sorted(
            Namespace.objects.filter(cluster=cluster, name__endswith=f"-{suffix}").values_list("name", "labels")
        ),
        "workloads": sorted(
            (w.kind, w.namespace, w.name, w.desired, w.ready, w.updated, w.available, w.owner.get("kind", ""),
             w.owner.get("name", ""), str(w.template["containers"]))
            for w in mine(Workload.objects)
        ),
        "pods": sorted(
            (p.namespace, p.name, p.phase, p.ready_containers, p.total_containers, p.restarts, p.reason,
             p.last_termination_reason, p.last_exit_code, p.workload_kind, p.workload_name, p.problem,
             p.service_account, p.node, str(p.spec["containers"]))
            for p in mine(Pod.objects)
        ),
        "serviceaccounts": sorted(mine(ServiceAccount.objects).values_list("namespace", "name", "annotations")),
        "events": sorted(mine(WarningEvent.objects).values_list("namespace", "reason", "involved_kind", "involved_name")),
        "flux": sorted(
            (f.kind, f.namespace, f.name, f.ready_status, f.ready_reason, f.suspended, str(f.source_ref),
             f.target_namespace, f.revision, f.interval, str(f.details))
            for f in mine(FluxObject.objects)
        ),
    }  # fmt: skip


def test_kubesim_and_the_real_api_server_sync_to_the_same_rows(real_kube, tmp_path, settings):
    settings.SHIRUBE_SYNC_PAGE_SIZE = 3  # every kind with more than 3 objects paginates
    suffix = uuid.uuid4().hex[:6]
    objects = demo_objects(suffix)
    assert {o["kind"] for o in objects} >= set(ORDER) - {
        "ConfigMap",
        "Service",
        "OCIRepository",
        "HelmChart",
        "ImageUpdateAutomation",
    }

    real_api = real_kube.api_client()
    seed_objects(real_api, objects)
    real = cluster_declare(
        name="real", connection="kubeconfig", kubeconfig_path=str(real_kube.kubeconfig), context=""
    )[0]

    fake_store = Store()
    register_flux(fake_store.registry)
    with Simulator(fake_store, token="t") as sim:
        from kubernetes import client, config

        configuration = client.Configuration()
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubesim")
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        seed_objects(client.ApiClient(configuration), objects)
        fake = cluster_declare(name="kubesim", connection="kubeconfig", kubeconfig_path=str(kubeconfig))[0]
        fake_result = sync.cluster_sync(cluster=fake)
        pages = sim.requests.count("GET", "/api/v1/pods")

    real_result = sync.cluster_sync(cluster=real)
    assert {k: v.status for k, v in real_result.kinds.items()} == {k: "ok" for k in real_result.kinds}, {
        k: v.error for k, v in real_result.kinds.items() if v.error
    }
    assert {k: v.status for k, v in fake_result.kinds.items()} == {k: "ok" for k in fake_result.kinds}
    assert pages > 3  # pods really were paginated

    real_rows, fake_rows = snapshot(real, suffix), snapshot(fake, suffix)
    for key in real_rows:
        assert real_rows[key], f"nothing synced for {key}"
        assert fake_rows[key] == real_rows[key], key
    assert {f[0] for f in real_rows["flux"]} >= {
        "Kustomization",
        "HelmRelease",
        "GitRepository",
        "ImagePolicy",
    }
    assert any(f[4] == "BuildFailed" for f in real_rows["flux"])  # a status the test wrote, synced
    problems = {p[11] for p in real_rows["pods"]}
    assert {"CrashLoopBackOff", "ImagePullBackOff", "Unschedulable"} <= problems | {"NotReady"}, problems


def test_a_resync_against_the_real_server_writes_nothing(real_kube, settings):
    settings.SHIRUBE_SYNC_PAGE_SIZE = 5
    real = cluster_declare(
        name="real-resync", connection="kubeconfig", kubeconfig_path=str(real_kube.kubeconfig)
    )[0]
    seed_objects(real_kube.api_client(), demo_objects(uuid.uuid4().hex[:6]))
    first = sync.cluster_sync(cluster=real)
    assert first.run.status == "ok" and first.run.created > 0
    again = sync.cluster_sync(cluster=real)
    assert (again.run.created, again.run.updated, again.run.deleted) == (0, 0, 0)

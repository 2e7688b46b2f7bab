"""The chart's rendered objects on the real kube-apiserver: a strict server-side dry run, with the
Prometheus Operator's own ServiceMonitor and PrometheusRule CRDs (from its Go module, v0.85.0)."""

from __future__ import annotations

import copy
import shutil

import pytest
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from tests.harness.helm import prometheus_operator_crds, render
from tests.realkube.test_rbac import apply, ensure_namespace

NAMESPACE = "shirube-chart"
CRDS = ("monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml")


@pytest.fixture(scope="module")
def dynamic(real_kube, tmp_path_factory) -> DynamicClient:
    folder = tmp_path_factory.mktemp("monitoring-crds")
    for name in CRDS:
        shutil.copy(prometheus_operator_crds() / name, folder / name)
    installed = real_kube.install_crds(folder)
    assert sorted(installed) == [
        "prometheusrules.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
    ]
    admin = real_kube.api_client()
    for namespace in (NAMESPACE, "flux-system", "payments", "search"):
        ensure_namespace(admin, namespace)
    # A new client after the CRDs: its discovery must see monitoring.coreos.com.
    return DynamicClient(admin, cache_file=str(tmp_path_factory.mktemp("discovery") / "cache.json"))


@pytest.mark.parametrize("values", [(), ("ci/production-values.yaml",)], ids=["defaults", "production"])
def test_every_rendered_object_passes_a_strict_server_side_dry_run(dynamic, values):
    docs = render(*values, namespace=NAMESPACE)
    applied = [apply(dynamic, doc, dry_run="All") for doc in docs]
    assert [(a.kind, a.metadata.name) for a in applied] == [(d["kind"], d["metadata"]["name"]) for d in docs]
    if values:
        assert {
            "ServiceMonitor",
            "PrometheusRule",
            "NetworkPolicy",
            "HorizontalPodAutoscaler",
            "Ingress",
        } <= {a.kind for a in applied}


def test_the_crds_are_real_a_misspelt_field_is_refused(dynamic):
    """The control: strict validation against the operator's schema refuses what it does not define."""
    docs = render("ci/production-values.yaml", namespace=NAMESPACE)
    monitor = copy.deepcopy(next(d for d in docs if d["kind"] == "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(ApiException) as refused:
        apply(dynamic, monitor, dry_run="All")
    assert refused.value.status in (400, 422) and "intervall" in refused.value.body

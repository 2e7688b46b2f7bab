"""The attack as found, on the real kube-apiserver: what it accepts, the portal must store safely.

The real server takes a NUL byte in an annotation or a status message, credentials
in exec probes and hooks, Datadog instances with passwords, and an owner
reference whose name holds "/"; kubesim is not the judge of that here. The sync
must finish "ok" on PostgreSQL with every kind synced, store none of the
credentials, and the pages must render without them.
"""

from __future__ import annotations

import json
import uuid

import pytest

from apps.clusters import sync
from apps.clusters.models import Pod
from apps.clusters.services import cluster_declare
from kubesim import objects as o
from tests.clusters.conftest import alice, teams  # noqa: F401, F811  (a payments member)
from tests.realkube.seed import seed_objects

pytestmark = pytest.mark.django_db

PASSWORD, TOKEN, DD_PASSWORD = "S3cretPw!", "tok3nValue123", "ddS3cret"


def hostile_pod(namespace: str) -> dict:
    c = o.container("app", "registry.example.com/app:1.0")
    c["readinessProbe"] = {"exec": {"command": ["mysqladmin", "ping", "-uroot", f"-p{PASSWORD}"]}}
    c["lifecycle"] = {"preStop": {"exec": {"command": [
        "sh", "-c", f"curl -H 'Authorization: Bearer {TOKEN}' http://localhost/drain; sleep 10"]}}}  # fmt: skip
    pod = o.pod(namespace, "hostile", o.pod_template_spec([c]))
    pod["metadata"]["annotations"] = {
        "prometheus.io/path": "/metrics\x00",
        "ad.datadoghq.com/app.checks": json.dumps(
            {"postgres": {"instances": [{"host": "%%host%%", "password": DD_PASSWORD}]}}
        ),
    }
    pod["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs/with/slash", "uid": str(uuid.uuid4()),
         "controller": True}
    ]  # fmt: skip
    o.crashloop(pod, 2)
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = "back-off\x00 restarting"
    return pod


def test_the_real_server_accepts_hostile_values_and_the_sync_stores_them_safely(
    real_kube,
    client_for,
    alice,  # noqa: F811
):
    namespace = f"hostile-{uuid.uuid4().hex[:6]}"
    seed_objects(
        real_kube.api_client(), [o.namespace(namespace, {"team": "payments"}), hostile_pod(namespace)]
    )
    cluster = cluster_declare(
        name="real-hostile", connection="kubeconfig", kubeconfig_path=str(real_kube.kubeconfig)
    )[0]

    result = sync.cluster_sync(cluster=cluster)

    assert result.run.status == "ok", {k: v.error for k, v in result.kinds.items() if v.error}
    assert result.kinds["pods"].skipped == 0
    row = Pod.objects.get(cluster=cluster, namespace=namespace, name="hostile")
    assert row.annotations["prometheus.io/path"] == "/metrics"
    assert row.message == "back-off restarting"
    assert (row.workload_kind, row.workload_name) == ("ReplicaSet", "rs/with/slash")
    stored = json.dumps([row.spec, row.annotations, row.message])
    for secret in (PASSWORD, TOKEN, DD_PASSWORD):
        assert secret not in stored
    assert row.spec["containers"][0]["readinessProbe"]["detail"] == "mysqladmin ping -uroot -p***"

    page = client_for(alice).get(f"/teams/payments/pods/real-hostile/{namespace}/hostile/")
    html = page.content.decode()
    assert page.status_code == 200 and "Authorization: Bearer ***" in html
    assert "rs%252Fwith%252Fslash" in html
    for secret in (PASSWORD, TOKEN, DD_PASSWORD):
        assert secret not in html

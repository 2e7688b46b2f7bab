"""Credentials in probes, hooks, annotations, URLs and messages never reach the database or a page.

The cluster (kubesim, over HTTP) holds a workload whose probes, preStop hook,
Datadog annotations, status messages and Flux source carry credentials; after a
sync, neither the stored rows nor the pages every employee may read hold any of
them, while what pages and readiness checks need is still there.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.clusters import sync
from apps.clusters.models import FluxObject, Pod, WarningEvent, Workload
from apps.readiness.models import Assessment, Finding
from apps.readiness.services import readiness_recompute
from kubesim import objects as o
from kubesim.flux import _obj, _ready

pytestmark = pytest.mark.django_db

SECRETS = {
    "mysql": "S3cretPw!",
    "token": "tok-abc-123",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",
    "pg": "pgS3cret",
    "datadog": "ddS3cret",
    "datadog-v1": "ddv1S3cret",
    "init": "initS3cret",
    "git": "gitS3cret",
    "message": "msgS3cret",
    "aws": "AKIAIOSFODNN7EXAMPLE",
}


def leaky_container() -> dict:
    c = o.container("app", "registry.example.com/leaky:1.0")
    c["readinessProbe"] = {"exec": {"command": ["mysqladmin", "ping", "-uroot", f"-p{SECRETS['mysql']}"]}}
    c["livenessProbe"] = {"httpGet": {"path": f"/health?token={SECRETS['token']}", "port": 8080}}
    c["startupProbe"] = {"exec": {"command": [
        "sh", "-c", f"curl -fsS -H 'Authorization: Bearer {SECRETS['jwt']}' http://localhost:8080/ready"]}}  # fmt: skip
    c["lifecycle"] = {"preStop": {"exec": {"command": [
        "/bin/sh", "-c", f"PGPASSWORD={SECRETS['pg']} psql -h db -c 'select 1' && sleep 10"]}}}  # fmt: skip
    return c


DATADOG = {
    "ad.datadoghq.com/app.checks": json.dumps(
        {
            "openmetrics": {"instances": [{"openmetrics_endpoint": "http://%%host%%:8080/metrics"}]},
            "postgres": {
                "instances": [{"host": "%%host%%", "username": "dd", "password": SECRETS["datadog"]}]
            },
        }
    ),  # fmt: skip
    "ad.datadoghq.com/app.instances": json.dumps([{"password": SECRETS["datadog-v1"]}]),
    "ad.datadoghq.com/app.init_configs": json.dumps([{"secret": SECRETS["init"]}]),
}


@pytest.fixture
def leaky(sim):
    """A Deployment with its pods, a warning event and a Flux source, all carrying credentials."""
    w = o.deployment("payments", "leaky", "registry.example.com/leaky:1.0", 2, containers=[leaky_container()])
    w.controller["spec"]["template"]["metadata"]["annotations"] = dict(DATADOG)
    for pod in w.pods:
        pod["metadata"]["annotations"] = dict(DATADOG)
    o.crashloop(w.pods[0], 3)
    w.pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = (
        f"back-off: login failed with --password={SECRETS['message']} for {SECRETS['aws']}"
    )
    for obj in w.objects():
        sim.store.create(obj)
    sim.store.create(
        o.warning_event(w.pods[0], "Unhealthy", f"Readiness probe failed: curl -u app:{SECRETS['message']}")
    )
    sim.store.create(_obj(
        "source.toolkit.fluxcd.io/v1", "GitRepository", "payments", "leaky-source",
        {"url": f"https://bot:{SECRETS['git']}@git.example.com/payments/leaky.git", "interval": "1m",
         "ref": {"branch": "main"}},
        {"conditions": [_ready(False, "GitOperationFailed",
                               f"unable to clone 'https://bot:{SECRETS['git']}@git.example.com/payments/leaky.git'",
                               "2026-11-26T10:00:00Z")]},
    ))  # fmt: skip
    return w


def stored_text() -> str:
    rows = [
        list(Pod.objects.values()), list(Workload.objects.values()),
        list(WarningEvent.objects.values()), list(FluxObject.objects.values()),
    ]  # fmt: skip
    return json.dumps(rows, default=str)


def test_no_credential_is_stored_and_what_pages_and_checks_need_is_kept(cluster, leaky):
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "ok", result.run.kinds

    everything = stored_text()
    for name, secret in SECRETS.items():
        assert secret not in everything, name
    pod = Pod.objects.filter(name__startswith="leaky").order_by("name").first()
    app = pod.spec["containers"][0]
    assert app["readinessProbe"]["detail"] == "mysqladmin ping -uroot -p***"
    assert app["livenessProbe"]["detail"] == "/health?token=***:8080"
    assert "Authorization: Bearer ***" in app["startupProbe"]["detail"]
    assert app["preStop"] == {
        "type": "exec",
        "command": "/bin/sh -c PGPASSWORD=*** psql -h db -c 'select 1' && sleep 10",
    }
    assert json.loads(pod.annotations["ad.datadoghq.com/app.checks"]) == {
        "openmetrics": {"instances": 1, "openmetrics_endpoint": True},
        "postgres": {"instances": 1, "openmetrics_endpoint": False},
    }
    assert "ad.datadoghq.com/app.init_configs" not in pod.annotations
    source = FluxObject.objects.get(name="leaky-source")
    assert source.details["url"] == "https://bot:***@git.example.com/payments/leaky.git"
    # Readiness still sees the Datadog check on the workload (the rule applies, and passes).
    readiness_recompute(cluster=cluster)
    assert "metrics-exposed" in Assessment.objects.get(name="leaky", kind="Deployment").applicable
    assert not Finding.objects.filter(workload_name="leaky", rule="metrics-exposed").exists()


def test_no_credential_is_shown_on_the_pod_workload_or_flux_page(client_for, alice, sre, cluster, leaky):
    sync.cluster_sync(cluster=cluster)
    pod = Pod.objects.filter(name__startswith="leaky").order_by("name").first()
    urls = [
        f"/teams/payments/pods/demo/payments/{pod.name}/",
        "/teams/payments/workloads/demo/payments/deployment/leaky/",
        "/teams/payments/flux/",
        "/teams/payments/",
    ]
    for user in (alice, sre):
        client = client_for(user)
        for url in urls:
            html = client.get(url).content.decode()
            assert "leaky" in html, url
            for name, secret in SECRETS.items():
                assert secret not in html, (url, name)
    pod_page = client_for(alice).get(urls[0]).content.decode()
    assert "mysqladmin ping -uroot -p***" in pod_page and "PGPASSWORD=***" in pod_page


@pytest.mark.django_db(transaction=True)
def test_the_migration_redacts_rows_stored_before_and_has_the_next_sync_reduce_them_again(
    cluster, leaky, settings
):
    """Rows as the sync stored them before redaction existed: raw commands, Datadog secrets, clone URLs."""
    sync.cluster_sync(cluster=cluster)
    pod = Pod.objects.filter(name__startswith="leaky").order_by("name").first()
    raw_spec = pod.spec
    raw_spec["containers"][0]["readinessProbe"]["detail"] = f"mysqladmin ping -uroot -p{SECRETS['mysql']}"
    raw_spec["containers"][0]["preStop"]["command"] = f"/bin/sh -c PGPASSWORD={SECRETS['pg']} psql"
    Pod.objects.filter(pk=pod.pk).update(
        spec=raw_spec, annotations=DATADOG, message=f"login failed with --password={SECRETS['message']}"
    )
    source = FluxObject.objects.get(name="leaky-source")
    Workload.objects.filter(name="leaky", kind="Deployment").update(
        template={**Workload.objects.get(name="leaky", kind="Deployment").template,
                  "metadata": {"labels": {}, "annotations": DATADOG}},
    )  # fmt: skip
    FluxObject.objects.filter(pk=source.pk).update(
        details={"url": f"https://bot:{SECRETS['git']}@git.example.com/x.git"},
        ready_message=f"unable to clone 'https://bot:{SECRETS['git']}@git.example.com/x.git'",
    )
    assert SECRETS["mysql"] in stored_text() and SECRETS["datadog"] in stored_text()

    executor = MigrationExecutor(connection)
    executor.migrate([("clusters", "0004_sync_failures_and_skipped")])
    try:
        executor.loader.build_graph()
        executor.migrate([("clusters", "0005_redact_synced_credentials")])
        after = stored_text()
    finally:
        # Back to the latest schema: the tests after this one on the same database (an xdist
        # worker runs them in any order) need the later migrations' columns.
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    for name in ("mysql", "pg", "datadog", "datadog-v1", "init", "git", "message"):
        assert SECRETS[name] not in after, name
    pod.refresh_from_db()
    assert pod.spec["containers"][0]["readinessProbe"]["detail"] == "mysqladmin ping -uroot -p***"
    assert pod.resource_version == ""
    # Back to the newest migrations (the models' columns), then the next sync reduces every
    # object again, from the cluster.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.updated >= Pod.objects.count()
    assert not Pod.objects.filter(resource_version="").exists()
    assert SECRETS["mysql"] not in stored_text()

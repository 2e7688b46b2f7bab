"""Hostile and broken cluster data, served over HTTP by kubesim, synced into PostgreSQL.

One malformed object costs that object only; strings the database cannot store
are cleaned; an unexpected error is its kind's error (or the run's) and fails
the run; and no page calls data fresh when it is not, or shows where the
portal's servers are.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection

from apps.clusters import sync
from apps.clusters.models import Pod, ServiceAccount, SyncRun, Workload
from kubesim import objects as o

pytestmark = pytest.mark.django_db

TEMPLATE = o.pod_template_spec([o.container("app", "registry.example.com/app:1.0")])
NO_UID = "00000000-0000-4000-8000-hostile0uid0"


def hostile_pod(name: str, change=None) -> dict:
    pod = o.pod("payments", name, TEMPLATE, labels={"app": "hostile"})
    if change:
        change(pod)
    return pod


def _set(path: str, value):
    def change(pod):
        *parents, last = path.split(".")
        node = pod
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


# name -> (change, kept?) ; kept objects are cleaned and stored, the others skipped.
HOSTILE = {
    "nul-in-annotation": (_set("metadata.annotations", {"prometheus.io/path": "/metrics\x00"}), True),
    "nul-in-message": (
        _set(
            "status.containerStatuses.0.state",
            {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off\x00 restarting"}},
        ),
        True,
    ),  # fmt: skip
    "null-node": (_set("spec.nodeName", None), True),  # null on an optional field reads as absent
    "bad/name": (None, False),
    "nul\x00name": (None, False),
    "no-uid": (_set("metadata.uid", NO_UID), False),  # the uid is taken off on the wire, below
    "null-name": (None, False),  # the name is made null on the wire, below
    "restarts-as-text": (_set("status.containerStatuses.0.restartCount", "seven"), False),
    "restarts-overflow": (_set("status.containerStatuses.0.restartCount", 2**40), False),
    "labels-as-a-list": (_set("metadata.labels", ["app"]), False),
    "image-as-a-number": (_set("spec.containers.0.image", 5), False),
}


def test_one_malformed_object_costs_that_object_only(cluster, sim, settings):
    for name, (change, _) in HOSTILE.items():
        sim.store.create(hostile_pod(name, change))
    settings.SHIRUBE_SYNC_PAGE_SIZE = 1  # one pod per page: each rewrite fault meets its own page
    uid_page = _page_of(sim, "no-uid")
    name_page = _page_of(sim, "null-name")
    sim.add_fault(r"/api/v1/pods", page=uid_page, rewrite=(f'"uid":"{NO_UID}"', f'"xid":"{NO_UID}"'))
    sim.add_fault(r"/api/v1/pods", page=name_page, rewrite=('"name":"null-name"', '"name":null'))

    result = sync.cluster_sync(cluster=cluster)

    skipped = [name for name, (_, kept) in HOSTILE.items() if not kept]
    assert result.run.status == "ok", result.run.kinds
    assert {k: v.status for k, v in result.kinds.items()} == {k: "ok" for k in result.kinds}
    assert result.kinds["pods"].skipped == len(skipped)
    assert (
        result.run.skipped == len(skipped) == SyncRun.objects.get(pk=result.run.pk).kinds["pods"]["skipped"]
    )
    assert Pod.objects.count() == sim.store.count("pods") - len(skipped)
    # The other kinds and every well-formed pod are there.
    assert Workload.objects.filter(kind="Deployment").count() == sim.store.count("deployments.apps")
    assert ServiceAccount.objects.count() == sim.store.count("serviceaccounts")
    stored = set(Pod.objects.filter(labels__app="hostile").values_list("name", flat=True))
    assert stored == {name for name, (_, kept) in HOSTILE.items() if kept}
    annotated = Pod.objects.get(name="nul-in-annotation")
    assert annotated.annotations == {"prometheus.io/path": "/metrics"}
    assert Pod.objects.get(name="nul-in-message").message == "back-off restarting"
    assert Pod.objects.get(name="null-node").node == ""
    # SREs can tell which objects were skipped and why.
    described = " ".join(result.kinds["pods"].skipped_objects)
    for fragment in ("payments/bad/name", "nul\\x00name", "restarts-as-text", "image-as-a-number", "uid"):
        assert fragment in described, described
    cluster.refresh_from_db()
    assert cluster.skipped_objects["pods"]["count"] == len(skipped)


def _page_of(sim, name: str) -> int:
    """The page (1-based) that carries this pod when every pod is listed one per page, in key order."""
    keys = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in sim.store.list("pods"))
    return [n for _, n in keys].index(name) + 1


def test_a_lone_surrogate_from_the_server_is_replaced_not_fatal(cluster, sim):
    sim.store.create(
        hostile_pod("surrogate", _set("metadata.annotations", {"prometheus.io/path": "PLACEHOLDER"}))
    )
    sim.add_fault(r"/api/v1/pods", rewrite=('"PLACEHOLDER"', '"/metrics\\ud800"'))
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "ok" and result.kinds["pods"].skipped == 0, result.run.kinds
    assert Pod.objects.count() == sim.store.count("pods")
    path = Pod.objects.get(name="surrogate").annotations["prometheus.io/path"]
    assert path.startswith("/metrics") and "\ud800" not in path
    path.encode("utf-8")  # storable and displayable


def test_a_nul_byte_in_a_pod_annotation_no_longer_ends_the_sync_as_ok(cluster, sim):
    """The attack as found: one NUL byte in an allow-listed annotation, on PostgreSQL."""
    sim.store.create(hostile_pod("nul", _set("metadata.annotations", {"prometheus.io/port": "80\x0080"})))
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "ok"
    assert set(result.kinds) >= {
        "pods",
        "serviceaccounts",
        "poddisruptionbudgets",
        "events",
        "kustomizations",
    }
    assert Pod.objects.count() == sim.store.count("pods")
    assert Pod.objects.get(name="nul").annotations == {"prometheus.io/port": "8080"}


# --- unexpected errors -------------------------------------------------------------


@pytest.fixture
def refusing_table():
    """Make PostgreSQL refuse writes to one table, as a full disk or a bad migration would."""
    created = []

    def refuse(table: str, message: str = "could not extend file: disk full on 10.9.8.7:5432"):
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE OR REPLACE FUNCTION shirube_test_refuse() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER shirube_test_refuse BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION shirube_test_refuse()"
            )
        created.append(table)

    return refuse


def test_an_unexpected_error_in_one_kind_is_its_error_and_fails_the_run(cluster, sim, refusing_table):
    sync.cluster_sync(cluster=cluster)
    refusing_table("clusters_pod")
    for pod in sim.store.list("pods", "payments")[:2]:
        sim.store.update("pods", "payments", pod["metadata"]["name"],
                         lambda p: p["metadata"]["labels"].update(moved="1"))  # fmt: skip
    sim.store.update("deployments.apps", "payments", "checkout-api",
                     lambda d: d["metadata"]["labels"].update(changed="yes"))  # fmt: skip
    sim.store.create(o.serviceaccount("payments", "late-comer"))

    result = sync.cluster_sync(cluster=cluster)

    assert result.run.status == "failed"
    assert result.kinds["pods"].status == "error"
    assert "disk full" in result.kinds["pods"].error  # the detail, for SREs and the log
    assert "10.9.8.7" not in result.kinds["pods"].summary
    # Every other kind, including those after pods, was synced.
    others = {k: v.status for k, v in result.kinds.items() if k != "pods"}
    assert set(others.values()) == {"ok"}, others
    assert ServiceAccount.objects.filter(name="late-comer").exists()
    assert (
        Workload.objects.get(kind="Deployment", namespace="payments", name="checkout-api").labels["changed"]
        == "yes"
    )
    assert not Pod.objects.filter(labels__moved="1").exists()  # pods keep their last good rows
    cluster.refresh_from_db()
    assert "pods" in cluster.kind_errors and "10.9.8.7" not in cluster.kind_errors["pods"]
    assert "disk full" in cluster.kind_error_details["pods"]


@pytest.mark.parametrize(
    "content",
    [b"- a\n- b\n", b"contexts: 5\nclusters: x\n", b"\x7fELF\x02\x01\x01\x00\xd0\xff", b"a: [\n", b""],
    ids=["a-yaml-list", "wrong-types", "binary", "broken-yaml", "empty"],
)
def test_a_kubeconfig_path_to_something_else_fails_the_run_with_a_clear_error(cluster, tmp_path, content):
    sync.cluster_sync(cluster=cluster)
    pods = Pod.objects.count()
    (tmp_path / "not-a-kubeconfig").write_bytes(content)
    cluster.kubeconfig_path = str(tmp_path / "not-a-kubeconfig")
    cluster.save()

    result = sync.cluster_sync(cluster=cluster)

    assert result.run.status == "failed"
    assert "not a usable kubeconfig" in result.run.error and str(tmp_path) in result.run.error
    assert Pod.objects.count() == pods
    cluster.refresh_from_db()
    assert cluster.last_error and str(tmp_path) not in cluster.last_error
    assert str(tmp_path) in cluster.last_error_detail


def test_a_kubeconfig_path_to_a_folder_fails_the_run(cluster, tmp_path):
    cluster.kubeconfig_path = str(tmp_path)
    cluster.save()
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "failed" and "not a usable kubeconfig" in result.run.error


# --- what the pages say ------------------------------------------------------------

PAGES = {
    "team": "/teams/payments/",
    "flux": "/teams/payments/flux/",
    "workload": "/teams/payments/workloads/demo/payments/deployment/checkout-api/",
    "readiness": "/teams/payments/readiness/",
}


def pages(client) -> dict[str, str]:
    pod = Pod.objects.filter(namespace="payments", name__startswith="checkout-api").first()
    urls = {**PAGES, "pod": f"/teams/payments/pods/demo/payments/{pod.name}/"}
    out = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        out[name] = response.content.decode()
    return out


def test_every_page_says_stale_after_a_failed_run_and_hides_where_the_cluster_is(
    client_for, alice, sre, cluster, sim
):
    sync.cluster_sync(cluster=cluster)
    port = sim.port
    sim.stop()
    result = sync.cluster_sync(cluster=cluster)
    assert result.run.status == "failed" and str(port) in result.run.error  # the detail keeps it

    for name, html in pages(client_for(alice)).items():
        assert "stale: last sync failed" in html, name
        assert not re.search(r"synced \d+ (s|min|h) ago", html), name
        assert "127.0.0.1" not in html and f":{port}" not in html and f"port={port}" not in html, name
    for name, html in pages(client_for(sre)).items():
        assert "stale: last sync failed" in html and str(port) in html, name  # SREs see the detail


def test_every_page_names_a_kind_that_failed_unexpectedly(client_for, alice, cluster, sim, refusing_table):
    sync.cluster_sync(cluster=cluster)
    refusing_table("clusters_pod")
    sim.store.update("pods", "payments", sim.store.list("pods", "payments")[0]["metadata"]["name"],
                     lambda p: p["metadata"]["labels"].update(moved="1"))  # fmt: skip
    assert sync.cluster_sync(cluster=cluster).run.status == "failed"
    for name, html in pages(client_for(alice)).items():
        if name == "flux":
            continue  # the Flux page lists only the Flux kinds' errors
        assert "Could not read <strong>pods</strong>" in html, name
        assert "10.9.8.7" not in html and "disk full" not in html, name


def test_sres_see_skipped_objects_on_the_team_page(client_for, alice, sre, cluster, sim):
    sim.store.create(hostile_pod("bad/name"))
    sync.cluster_sync(cluster=cluster)
    assert "1 malformed object skipped" in client_for(sre).get("/teams/payments/").content.decode()
    assert "malformed" not in client_for(alice).get("/teams/payments/").content.decode()


def test_sres_see_skipped_objects_and_error_details_in_the_admin(client_for, sre, cluster, sim):
    sim.store.create(hostile_pod("bad/name"))
    sim.add_fault(r"/apis/batch/v1/jobs", drop=True)
    result = sync.cluster_sync(cluster=cluster)
    client = client_for(sre)
    change = client.get(f"/admin/clusters/cluster/{cluster.pk}/change/").content.decode()
    assert "payments/bad/name" in change and "not a valid name" in change
    assert "timed out, or the connection was lost" in change  # the summary every reader sees
    assert "timeout or connection lost:" in change  # and the detail behind it
    runs = client.get("/admin/clusters/syncrun/").content.decode()
    assert '<td class="field-skipped">1</td>' in runs
    run = client.get(f"/admin/clusters/syncrun/{result.run.pk}/change/").content.decode()
    assert "payments/bad/name" in run

"""Synced names in URLs: whatever a name holds, every page that links it renders and the link works."""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import unquote

import pytest
from django.urls import resolve, reverse

from apps.clusters import sync
from apps.clusters.models import FluxObject, Pod, Workload
from apps.readiness.services import readiness_recompute
from kubesim import objects as o

pytestmark = pytest.mark.django_db

ODD = ["owner/with/slash", "..", ".", "50%off", "a?b#c", "with space", "naïve", "%2F"]


@pytest.mark.parametrize("name", ODD)
def test_every_synced_name_url_reverses_and_resolves_back_to_the_name(name):
    urls = {
        "clusters:pod": {"team_slug": "t", "cluster": "c", "namespace": name, "pod": name},
        "clusters:workload": {"team_slug": "t", "cluster": "c", "namespace": name, "kind": name, "name": name},
        "clusters:flux-action": {
            "team_slug": "t", "cluster": "c", "namespace": name, "kind": name, "name": name, "action": "resume",
        },
    }  # fmt: skip
    for url_name, kwargs in urls.items():
        url = reverse(url_name, kwargs=kwargs)
        assert "/../" not in url and "/./" not in url and "?" not in url and "#" not in url, url
        # What a server hands the resolver: the path with its %-escapes decoded once.
        match = resolve(unquote(url))
        assert match.url_name == url_name.split(":")[1]
        assert match.kwargs == kwargs, (url, match.kwargs)


def test_ordinary_names_make_ordinary_urls():
    url = reverse("clusters:pod", args=["payments", "demo", "payments", "checkout-api-7d9f8-abcde"])
    assert url == "/teams/payments/pods/demo/payments/checkout-api-7d9f8-abcde/"


def _copy(row, **changes):
    row.pk, row.uid = None, str(uuid.uuid4())
    for key, value in changes.items():
        setattr(row, key, value)
    row.save()
    return row


def _links(html: str, prefix: str) -> list[str]:
    return sorted(
        {unescape(h) for h in re.findall(r'href="([^"]+)"', html) if unescape(h).startswith(prefix)}
    )


def test_pages_with_odd_names_render_and_every_link_to_them_works(client_for, alice, synced, teams):
    """Rows as an old sync stored them, or as owner references name them: a '/' once made this a 500."""
    pod = Pod.objects.filter(namespace="payments", name__startswith="checkout-api").first()
    odd_pod = _copy(pod, name="odd/pod", workload_kind="Deployment", workload_name="owner/with/slash",
                    problem="CrashLoopBackOff", reason="CrashLoopBackOff")  # fmt: skip
    dep = Workload.objects.get(namespace="payments", kind="Deployment", name="checkout-api")
    _copy(dep, name="owner/with/slash")
    _copy(Workload.objects.get(pk=dep.pk), name="..")
    kustomization = FluxObject.objects.filter(kind="Kustomization", namespace="payments").first()
    if kustomization is None:  # a Kustomization that deploys into the team's namespace
        kustomization = FluxObject.objects.filter(kind="Kustomization", target_namespace="payments").first()
    _copy(kustomization, name="flux/odd", suspended=False)
    readiness_recompute(cluster=synced)
    client = client_for(alice)

    pages = ["/teams/payments/", "/teams/payments/flux/", "/teams/payments/readiness/"]
    seen: set[str] = set()
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        seen.update(_links(response.content.decode(), "/teams/payments/pods/"))
        seen.update(_links(response.content.decode(), "/teams/payments/workloads/"))
    assert "/teams/payments/pods/demo/payments/odd%252Fpod/" in seen
    assert "/teams/payments/workloads/demo/payments/deployment/owner%252Fwith%252Fslash/" in seen
    assert "/teams/payments/workloads/demo/payments/deployment/%252E%252E/" in seen

    pod_page = client.get("/teams/payments/pods/demo/payments/odd%252Fpod/")
    assert pod_page.status_code == 200 and "odd/pod" in pod_page.content.decode()
    # The pod page links its workload (the owner's name, with its slashes) and that page works too.
    workload_links = _links(pod_page.content.decode(), "/teams/payments/workloads/")
    assert workload_links == ["/teams/payments/workloads/demo/payments/deployment/owner%252Fwith%252Fslash/"]
    for link in seen | set(workload_links):
        assert client.get(link).status_code == 200, link
    dots = client.get("/teams/payments/workloads/demo/payments/deployment/%252E%252E/").content.decode()
    assert "<h1>..</h1>" in dots

    flux_html = client.get("/teams/payments/flux/").content.decode()
    actions = re.findall(r'action="([^"]*flux%252Fodd[^"]*)"', flux_html)
    assert actions, "the Flux object's action buttons"
    response = client.post(unescape(actions[0]), {"reason": "odd names work"})
    assert response.status_code == 302 and odd_pod.pk


def test_a_pod_owned_through_a_name_with_a_slash_syncs_and_its_page_renders(client_for, alice, cluster, sim):
    """The same through the sync: owner references are values, and their names are not checked."""
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs/with/slash", "uid": str(uuid.uuid4()),
             "controller": True}  # fmt: skip
    pod = o.pod(
        "payments", "owned-oddly", o.pod_template_spec([o.container("app", "registry.example.com/a:1")])
    )
    pod["metadata"]["ownerReferences"] = [owner]
    sim.store.create(pod)
    assert sync.cluster_sync(cluster=cluster).run.status == "ok"
    row = Pod.objects.get(name="owned-oddly")
    assert (row.workload_kind, row.workload_name) == ("ReplicaSet", "rs/with/slash")
    client = client_for(alice)
    assert client.get("/teams/payments/").status_code == 200
    page = client.get("/teams/payments/pods/demo/payments/owned-oddly/")
    assert page.status_code == 200
    assert (
        "/teams/payments/workloads/demo/payments/replicaset/rs%252Fwith%252Fslash/" in page.content.decode()
    )

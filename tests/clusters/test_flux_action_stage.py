"""Flux actions are gated on the stage of what the object deploys, not only its cluster's (issue 11).

The attack: a member suspended payments' production Kustomization because the
cluster it runs on was marked staging (many companies run staging and
production namespaces on one cluster, as the demo does). An object is now
production when its cluster is, or when it deploys or feeds a production
Environment: that environment's Kustomization, anything in or deploying into
its namespace, its image policy and repository, and the sources those read.
"""

from __future__ import annotations

import pytest

from apps.accounts.models import Membership
from apps.audit.models import AuditEvent
from apps.clusters import flux_actions, sync
from apps.clusters.models import Cluster, FluxAction, FluxObject
from apps.environments.models import Environment
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

KUSTOMIZATIONS = "kustomizations.kustomize.toolkit.fluxcd.io"


def flux(kind: str, namespace: str, name: str) -> FluxObject:
    return FluxObject.objects.select_related("cluster").get(kind=kind, namespace=namespace, name=name)


def environment(cluster, teams, stage: str, **fields) -> Environment:
    values = {
        "team": teams["payments"], "app": "checkout-api", "stage": stage, "cluster": cluster,
        "repo_url": "https://git.example/platform/gitops.git",
        "kustomization_path": f"apps/payments/{stage}/kustomization.yaml",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api",
        **fields,
    }  # fmt: skip
    return Environment.objects.create(**values)


@pytest.fixture
def production(synced, teams):
    """payments' production, on the demo cluster, which is marked staging."""
    assert not synced.is_production
    return environment(
        synced, teams, "production", namespace="payments", kustomization="flux-system/payments-apps"
    )


@pytest.fixture
def lead(teams):
    return MembershipFactory(team=teams["payments"], role=Membership.Role.LEAD).user


def test_a_member_cannot_suspend_production_on_a_cluster_marked_staging(
    production, sim, alice, lead, client_for
):
    url = "/teams/payments/flux/demo/flux-system/Kustomization/payments-apps/suspend/"

    response = client_for(alice).post(url, {"reason": "just because"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert not FluxAction.objects.exists()
    assert AuditEvent.objects.filter(action="flux.suspend", outcome="refused", actor=alice).count() == 1
    assert not sim.store.get(KUSTOMIZATIONS, "flux-system", "payments-apps")["spec"].get("suspend")
    # A lead of the team may, as on any production object.
    client_for(lead).post(url, {"reason": "incident 42"}, HTTP_HX_REQUEST="true")
    assert FluxAction.objects.get().requested_by == lead


@pytest.mark.parametrize(
    ("kind", "namespace", "name", "fields"),
    [
        # Named by the environment (its namespace elsewhere, so only the name decides).
        ("Kustomization", "flux-system", "payments-apps", {"namespace": "payments-live"}),
        ("ImagePolicy", "payments", "checkout-api",
         {"namespace": "payments-live", "kustomization": "flux-system/other", "image_policy": "payments:checkout-api"}),
        ("ImageRepository", "payments", "checkout-api",
         {"namespace": "payments-live", "kustomization": "flux-system/other", "image_repository": "payments/checkout-api"}),
        # In the environment's namespace.
        ("HelmRelease", "payments", "payments-cache", {"namespace": "payments", "kustomization": "flux-system/other"}),
        ("HelmRepository", "payments", "bitnami", {"namespace": "payments", "kustomization": "flux-system/other"}),
    ],
    ids=["its kustomization", "its image policy", "its image repository", "in its namespace", "helm source"],
)  # fmt: skip
def test_what_a_production_environment_deploys_or_reads_is_production(synced, teams, alice, lead, kind, namespace,
                                                                      name, fields):  # fmt: skip
    obj = flux(kind, namespace, name)
    assert flux_actions.flux_action_allowed(user=alice, obj=obj, action="reconcile"), (
        "open before the environment"
    )

    environment(synced, teams, "production", **{"kustomization": "flux-system/payments-apps", **fields})

    assert not flux_actions.flux_action_allowed(user=alice, obj=obj, action="reconcile")
    assert flux_actions.flux_action_allowed(user=lead, obj=obj, action="reconcile")


def test_the_source_a_production_kustomization_reads_is_production(synced, sim, teams, alice):
    """A team's own GitRepository that production deploys from: suspending it stops production deploys."""
    sim.store.apply({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "payments-releases", "namespace": "payments-staging"},
        "spec": {"url": "https://git.example/payments/releases.git", "interval": "1m"},
    })  # fmt: skip

    def point_at_team_source(obj):
        obj["spec"]["sourceRef"] = {"kind": "GitRepository", "name": "payments-releases",
                                    "namespace": "payments-staging"}  # fmt: skip

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-apps", point_at_team_source)
    sync.cluster_sync(cluster=synced)
    source = flux("GitRepository", "payments-staging", "payments-releases")
    assert flux_actions.flux_action_allowed(user=alice, obj=source, action="suspend")

    environment(synced, teams, "production", namespace="payments", kustomization="flux-system/payments-apps")

    assert not flux_actions.flux_action_allowed(user=alice, obj=source, action="suspend")


def test_staging_objects_stay_open_to_members(production, teams, alice):
    environment(production.cluster, teams, "staging", namespace="payments-staging",
                kustomization="flux-system/payments-staging")  # fmt: skip

    assert flux_actions.flux_action_allowed(user=alice, obj=flux("Kustomization", "flux-system", "payments-staging"),
                                       action="suspend")  # fmt: skip


def test_a_production_cluster_stays_production_whatever_its_environments_say(synced, teams, alice):
    """The stricter stage wins: a staging environment cannot open up objects on a production cluster."""
    Cluster.objects.filter(pk=synced.pk).update(stage="production")
    environment(
        synced, teams, "staging", namespace="payments-staging", kustomization="flux-system/payments-staging"
    )

    assert not flux_actions.flux_action_allowed(user=alice, obj=flux("Kustomization", "flux-system", "payments-staging"),
                                           action="reconcile")  # fmt: skip


def test_the_flux_page_offers_members_actions_only_outside_production(production, alice, client_for):
    html = client_for(alice).get("/teams/payments/flux/").content.decode()

    assert "/flux/demo/flux-system/Kustomization/payments-staging/reconcile/" in html
    assert "/flux/demo/flux-system/Kustomization/payments-apps/reconcile/" not in html
    assert "/flux/demo/payments/HelmRelease/payments-cache/reconcile/" not in html


def test_the_flux_page_query_count_does_not_grow_with_production_environments(production, teams, alice,
                                                                              client_for):  # fmt: skip
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(alice)
    client.get("/teams/payments/flux/")
    with CaptureQueriesContext(connection) as one:
        client.get("/teams/payments/flux/")
    for n in range(5):
        environment(production.cluster, teams, "production", app=f"svc-{n}", namespace=f"payments-{n}",
                    kustomization=f"flux-system/svc-{n}", image_policy=f"payments:svc-{n}")  # fmt: skip
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        client.get("/teams/payments/flux/")
    assert len(one.captured_queries) == len(many.captured_queries)

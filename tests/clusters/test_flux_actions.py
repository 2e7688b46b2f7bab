"""Reconcile, suspend and resume: patches over HTTP, Flux acknowledging, audit, permissions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Membership
from apps.audit.models import AppendOnly, AuditEvent
from apps.clusters import flux_actions, flux_runner, sync
from apps.clusters.models import Cluster, FluxAction, FluxObject
from kubesim.flux import reconcile_step
from tests.clusters.fluxdrive import drive
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

KUSTOMIZATIONS = "kustomizations.kustomize.toolkit.fluxcd.io"


def kustomization(name="payments-apps") -> FluxObject:
    return FluxObject.objects.select_related("cluster").get(kind="Kustomization", name=name)


def test_reconcile_patches_the_source_then_the_object_and_waits_for_flux(synced, sim, alice):
    action = flux_actions.flux_action_request(user=alice, obj=kustomization(), action="reconcile")
    done = drive(action.pk, flux=lambda: reconcile_step(sim.store))
    assert done.status == "succeeded", done.message
    obj = sim.store.get(KUSTOMIZATIONS, "flux-system", "payments-apps")
    assert obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == action.token
    assert obj["status"]["lastHandledReconcileAt"] == action.token
    source = sim.store.get("gitrepositories.source.toolkit.fluxcd.io", "flux-system", "gitops")
    assert source["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"] == action.token
    patches = sim.requests.count("PATCH")
    assert patches == 2
    outcomes = list(AuditEvent.objects.filter(correlation=str(action.pk)).values_list("outcome", flat=True))
    assert sorted(outcomes) == ["requested", "succeeded"]


def test_a_reconcile_flux_never_acknowledges_times_out(synced, alice, settings):
    action = flux_actions.flux_action_request(user=alice, obj=kustomization(), action="reconcile")
    # No Flux here: nobody acknowledges. Until the deadline each step looks once and asks
    # to be queued again after the poll delay.
    delays = [flux_runner.flux_action_advance(action_id=action.pk) for _ in range(3)]
    assert delays == [flux_runner.POLL_SECONDS] * 3
    waiting = FluxAction.objects.get(pk=action.pk)
    assert waiting.status == "waiting" and waiting.finished_at is None
    FluxAction.objects.filter(pk=action.pk).update(
        step_started_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_RECONCILE_TIMEOUT + 1)
    )
    done = drive(action.pk, steps=1)
    assert done.status == "timed_out"
    assert f"within {settings.SHIRUBE_RECONCILE_TIMEOUT} s" in done.message
    assert AuditEvent.objects.filter(correlation=str(action.pk), outcome="timed out").exists()


def test_suspend_needs_a_reason_and_records_who(synced, sim, alice):
    with pytest.raises(flux_actions.ActionRefused, match="Say why"):
        flux_actions.flux_action_request(user=alice, obj=kustomization(), action="suspend", reason="  ")
    action = flux_actions.flux_action_request(
        user=alice, obj=kustomization(), action="suspend", reason="hotfix"
    )
    done = drive(action.pk, steps=1)  # a suspend is done once the patch is accepted
    assert done.status == "succeeded"
    obj = sim.store.get(KUSTOMIZATIONS, "flux-system", "payments-apps")
    assert obj["spec"]["suspend"] is True
    assert obj["metadata"]["annotations"]["shirube.io/suspended-by"] == "alice"
    assert obj["metadata"]["annotations"]["shirube.io/suspend-reason"] == "hotfix"
    assert obj["spec"]["path"] == "./apps/payments/production"  # a merge patch: nothing else changed


def test_resume_clears_suspension_and_reconciles(synced, sim, alice):
    drive(flux_actions.flux_action_request(user=alice, obj=kustomization(), action="suspend", reason="x").pk)
    sync.cluster_sync(cluster=synced)
    resume = flux_actions.flux_action_request(user=alice, obj=kustomization(), action="resume")
    assert drive(resume.pk, flux=lambda: reconcile_step(sim.store)).status == "succeeded"
    obj = sim.store.get(KUSTOMIZATIONS, "flux-system", "payments-apps")
    assert obj["spec"]["suspend"] is False
    assert "shirube.io/suspended-by" not in obj["metadata"].get("annotations", {})


def test_an_unreachable_cluster_fails_the_action_clearly(synced, sim, alice):
    action = flux_actions.flux_action_request(user=alice, obj=kustomization(), action="suspend", reason="x")
    port = sim.port
    sim.stop()
    done = drive(action.pk, steps=1)
    assert done.status == "failed" and "unreachable" in done.message
    event = AuditEvent.objects.get(correlation=str(action.pk), outcome="failed")
    for shown in (done.message, event.message):  # both reach pages every employee can read
        assert "127.0.0.1" not in shown and str(port) not in shown, shown


def test_the_audit_log_is_append_only(synced, alice):
    flux_actions.flux_action_request(user=alice, obj=kustomization(), action="reconcile")
    event = AuditEvent.objects.first()
    event.message = "changed"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()


ROLES = ["anonymous", "other team", "member", "lead", "sre"]


@pytest.mark.parametrize("stage", ["staging", "production"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["reconcile", "suspend", "resume"])
def test_permission_matrix(client, synced, teams, sre, role, stage, action):
    Cluster.objects.filter(pk=synced.pk).update(stage=stage)
    obj = kustomization()
    if action == "resume":
        FluxObject.objects.filter(pk=obj.pk).update(suspended=True)
    user = {
        "anonymous": None,
        "other team": MembershipFactory(team=teams["search"]).user,
        "member": MembershipFactory(team=teams["payments"]).user,
        "lead": MembershipFactory(team=teams["payments"], role=Membership.Role.LEAD).user,
        "sre": sre,
    }[role]
    if user is not None:
        client.force_login(user)
    url = f"/teams/payments/flux/demo/flux-system/Kustomization/payments-apps/{action}/"
    response = client.post(url, {"reason": "because"})
    expected = {
        "anonymous": False, "other team": False, "member": stage == "staging", "lead": True, "sre": True,
    }[role]  # fmt: skip
    if role == "anonymous":
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert FluxAction.objects.exists() is expected, (role, stage, action)
    if not expected and user is not None:
        assert AuditEvent.objects.filter(outcome="refused", action=f"flux.{action}").exists()


def test_csrf_is_enforced_on_actions(synced, alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/teams/payments/flux/demo/flux-system/Kustomization/payments-apps/reconcile/")
    assert response.status_code == 403
    assert not FluxAction.objects.exists()


def test_get_never_acts(client_for, synced, alice):
    client = client_for(alice)
    response = client.get("/teams/payments/flux/demo/flux-system/Kustomization/payments-apps/reconcile/")
    assert response.status_code == 405
    client.get("/teams/payments/flux/")
    assert (
        not FluxAction.objects.exists() and not AuditEvent.objects.filter(action__startswith="flux.").exists()
    )


def test_another_teams_object_is_404_on_my_team_url(client_for, synced, alice):
    response = client_for(alice).post(
        "/teams/payments/flux/demo/flux-system/Kustomization/search-apps/reconcile/"
    )
    assert response.status_code == 404


def test_the_flux_page_offers_only_allowed_actions_and_shows_the_audit(client_for, synced, alice, teams):
    html = client_for(alice).get("/teams/payments/flux/").content.decode()
    assert "Reconcile now" in html and "Suspend" in html and "Resume</button>" not in html
    outsider = MembershipFactory(team=teams["search"]).user
    assert "Reconcile now" not in client_for(outsider).get("/teams/payments/flux/").content.decode()
    client_for(alice).post(
        "/teams/payments/flux/demo/flux-system/Kustomization/payments-apps/suspend/",
        {"reason": "incident 42"},
    )
    html = client_for(alice).get("/teams/payments/flux/").content.decode()
    assert "Audit log" in html and "flux.suspend" in html and "incident 42" in html


def test_the_flux_page_query_count_does_not_grow_with_flux_objects(client_for, synced, alice, sim):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kubesim.flux import flux_demo_objects

    client = client_for(alice)
    client.get("/teams/payments/flux/")
    with CaptureQueriesContext(connection) as small_ctx:
        client.get("/teams/payments/flux/")
    small = len(small_ctx.captured_queries)
    for i in range(10):
        for obj in flux_demo_objects():
            if obj["kind"] == "Kustomization" and obj["metadata"]["name"] == "payments-apps":
                obj["metadata"]["name"] = f"payments-apps-{i}"
                sim.store.create(obj)
    sync.cluster_sync(cluster=synced)
    cache.clear()
    with CaptureQueriesContext(connection) as large_ctx:
        html = client.get("/teams/payments/flux/").content.decode()
    assert "payments-apps-9" in html
    assert 0 < small == len(large_ctx.captured_queries), (small, len(large_ctx.captured_queries))

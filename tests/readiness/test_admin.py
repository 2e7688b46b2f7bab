"""Waivers in the admin: SREs only, recorded with who made them, and applied by a recompute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.readiness.models import Waiver
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_sre_adds_a_waiver_and_a_recompute_is_queued(
    client_for, sre, cluster, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.clusters import sync
    from apps.readiness import tasks

    sync.cluster_sync(cluster=cluster)  # the namespace is picked from what was synced
    queued = []
    monkeypatch.setattr(tasks.readiness_recompute, "delay", lambda cluster_id: queued.append(cluster_id))
    expires = (timezone.now() + timedelta(days=14)).replace(microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(sre).post(
            "/admin/readiness/waiver/add/",
            {
                "rule": "metrics-exposed",
                "cluster": cluster.pk,
                "namespace": "payments",
                "workload_name": "",
                "reason": "Datadog onboarding next sprint",
                "expires_at_0": expires.strftime("%Y-%m-%d"),
                "expires_at_1": expires.strftime("%H:%M:%S"),
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    waiver = Waiver.objects.get()
    assert waiver.created_by == sre and waiver.rule == "metrics-exposed"
    assert queued == [cluster.pk]


def test_a_waiver_must_expire_in_the_future_and_name_a_place(cluster):
    from django.core.exceptions import ValidationError

    past = Waiver(
        rule="restarts", namespace="payments", reason="x", expires_at=timezone.now() - timedelta(days=1)
    )
    with pytest.raises(ValidationError):
        past.full_clean()
    everywhere = Waiver(rule="restarts", reason="x", expires_at=timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError):
        everywhere.full_clean()


def test_staff_who_are_not_sres_do_not_see_waivers(client_for):
    staff = UserFactory(is_staff=True, is_superuser=False)
    assert client_for(staff).get("/admin/readiness/waiver/").status_code in (302, 403)


def _waiver_form(cluster, reason: str) -> dict:
    expires = timezone.now() + timedelta(days=14)
    return {
        "rule": "sts-regional-endpoints", "cluster": cluster.pk, "namespace": "payments",
        "workload_name": "fraud-scorer", "reason": reason,
        "expires_at_0": expires.strftime("%Y-%m-%d"), "expires_at_1": expires.strftime("%H:%M:%S"),
    }  # fmt: skip


@pytest.fixture
def recompute_inline(cluster, monkeypatch, django_capture_on_commit_callbacks):
    """The synced demo cluster, with the recompute a waiver queues run at once (as the worker would)."""
    from apps.clusters import sync
    from apps.clusters.models import Cluster
    from apps.readiness import tasks
    from apps.readiness.services import readiness_recompute

    sync.cluster_sync(cluster=cluster)
    readiness_recompute(cluster=cluster)
    monkeypatch.setattr(
        tasks.readiness_recompute, "delay", lambda pk: readiness_recompute(cluster=Cluster.objects.get(pk=pk))
    )
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_a_reason_too_long_for_the_findings_it_exempts_is_refused(client_for, sre, cluster, recompute_inline):
    with recompute_inline():
        response = client_for(sre).post("/admin/readiness/waiver/add/", _waiver_form(cluster, "r" * 490))
    assert response.status_code == 200
    assert "at most 400 characters (it has 490)" in response.content.decode()
    assert not Waiver.objects.exists()


def test_the_longest_reason_fits_the_findings_it_exempts(client_for, sre, cluster, recompute_inline):
    from apps.readiness.models import Finding

    with recompute_inline():
        response = client_for(sre).post("/admin/readiness/waiver/add/", _waiver_form(cluster, "r" * 400))
    assert response.status_code == 302
    finding = Finding.objects.get(workload_name="fraud-scorer", rule="sts-regional-endpoints")
    assert finding.exempt_reason == "Waived by an SRE: " + "r" * 400


def test_the_form_offers_synced_namespaces_and_workloads_only(client_for, sre, cluster, recompute_inline):
    html = client_for(sre).get("/admin/readiness/waiver/add/").content.decode()
    assert '<option value="payments">payments</option>' in html
    assert (
        '<optgroup label="demo/payments">' in html
        and '<option value="fraud-scorer">fraud-scorer</option>' in html
    )


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"workload_name": "fraud-scorrer"}, "workload_name", "Select a valid choice"),  # a typo: not offered
        ({"namespace": "nowhere"}, "namespace", "Select a valid choice"),
        (
            {"workload_name": "indexer"},
            "workload_name",
            "No workload indexer in demo/payments in the last sync",
        ),
        (
            {"namespace": "search", "workload_name": "fraud-scorer"},
            "workload_name",
            "No workload fraud-scorer",
        ),
    ],
)
def test_a_waiver_for_a_workload_that_was_never_synced_is_refused(
    client_for, sre, cluster, recompute_inline, changes, field, message
):
    """A name typed wrong used to be saved, and waived nothing while looking as if it did."""
    response = client_for(sre).post(
        "/admin/readiness/waiver/add/", {**_waiver_form(cluster, "why"), **changes}
    )
    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors[field])
    assert not Waiver.objects.exists()


def test_an_old_waiver_for_a_workload_gone_since_can_still_be_edited(
    client_for, sre, cluster, recompute_inline
):
    waiver = Waiver.objects.create(
        rule="restarts", cluster=cluster, namespace="payments", workload_name="retired-job", reason="old",
        expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    client = client_for(sre)
    page = client.get(f"/admin/readiness/waiver/{waiver.pk}/change/").content.decode()
    assert "retired-job (not in the last sync)" in page
    form = {**_waiver_form(cluster, "still old"), "rule": "restarts", "workload_name": "retired-job"}
    assert client.post(f"/admin/readiness/waiver/{waiver.pk}/change/", form).status_code == 302
    waiver.refresh_from_db()
    assert waiver.reason == "still old"


@pytest.mark.parametrize("reason", ["\x1b[2J", "ok\u202egnp.exe", "bell\x07"])
def test_a_reason_that_is_not_plain_text_is_refused(client_for, sre, cluster, reason):
    response = client_for(sre).post("/admin/readiness/waiver/add/", _waiver_form(cluster, reason))
    assert response.status_code == 200 and "use plain text" in response.content.decode()
    assert not Waiver.objects.exists()


def test_waivers_added_changed_and_deleted_are_audited_for_the_team_they_concern(
    client_for, sre, cluster, monkeypatch
):
    from apps.audit.models import AuditEvent
    from apps.clusters import sync
    from apps.readiness import tasks

    sync.cluster_sync(cluster=cluster)  # payments owns the payments namespace
    monkeypatch.setattr(tasks.readiness_recompute, "delay", lambda pk: None)  # tested above
    client = client_for(sre)
    form = _waiver_form(cluster, "Pod Identity in May")
    client.post("/admin/readiness/waiver/add/", form)
    waiver = Waiver.objects.get()
    client.post(f"/admin/readiness/waiver/{waiver.pk}/change/", {**form, "reason": "Pod Identity in June"})
    client.post(f"/admin/readiness/waiver/{waiver.pk}/delete/", {"post": "yes"})
    events = list(AuditEvent.objects.filter(action="config.waiver").order_by("id"))
    assert [e.outcome for e in events] == ["created", "changed", "deleted"]
    assert {e.team.slug for e in events} == {"payments"}
    assert events[0].target == "demo/payments/Waiver/sts-regional-endpoints/fraud-scorer"
    assert events[1].parameters["changes"] == {"reason": ["Pod Identity in May", "Pod Identity in June"]}

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
    from apps.readiness import tasks

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

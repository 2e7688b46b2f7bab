"""A team hears when a Flux object of theirs turns not Ready and when it recovers: debounced, never per sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.clusters import sync
from apps.clusters.flux_health import QUIET_SECONDS, flux_health_notify
from apps.clusters.models import FluxObject, Namespace
from apps.notifications import services
from apps.notifications.models import Notification, StateWatch
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def flux_object(cluster, teams):
    teams["payments"].slack_channel = "C0PAYMENTS"
    teams["payments"].save()
    Namespace.objects.create(
        cluster=cluster, name="payments", uid="ns-p", resource_version="1", team=teams["payments"]
    )
    return FluxObject.objects.create(
        cluster=cluster, uid="k-1", resource_version="1", kind="Kustomization", api_version="x/v1",
        namespace="payments", name="payments-apps", ready_status="True",
    )  # fmt: skip


def turn(obj: FluxObject, ready: str, reason: str = "", message: str = "") -> None:
    FluxObject.objects.filter(pk=obj.pk).update(
        ready_status=ready, ready_reason=reason, ready_message=message
    )


def later(minutes: int) -> None:
    """Time passes for the debounce (the watch's last message moved back)."""
    StateWatch.objects.update(notified_at=timezone.now() - timedelta(minutes=minutes))


def told() -> list[str]:
    return list(
        Notification.objects.filter(kind="flux.health").order_by("pk").values_list("title", flat=True)
    )


def test_not_ready_then_recovered_is_told_once_each_not_once_per_sync(slack, flux_object, cluster):
    flux_health_notify(cluster=cluster)  # first sight: recorded silently
    assert told() == []
    turn(flux_object, "False", "ReconciliationFailed", "kustomize build failed")
    for _ in range(5):  # five syncs see the same failure
        flux_health_notify(cluster=cluster)
    assert told() == ["Kustomization payments/payments-apps is not ready"]
    later(16)
    turn(flux_object, "True")
    flux_health_notify(cluster=cluster)
    flux_health_notify(cluster=cluster)
    assert told()[-1] == "Kustomization payments/payments-apps is ready again" and len(told()) == 2
    drain()
    first, second = slack.posted("C0PAYMENTS")
    assert (
        "kustomize build failed" in first["text"]
        and "/teams/payments/flux/" in first["blocks"][0]["text"]["text"]
    )


def test_a_flap_inside_fifteen_minutes_waits_and_a_flap_back_tells_nothing(slack, flux_object, cluster):
    flux_health_notify(cluster=cluster)
    turn(flux_object, "False", "HealthCheckFailed")
    flux_health_notify(cluster=cluster)
    later(5)
    turn(flux_object, "True")
    flux_health_notify(cluster=cluster)  # recovered 5 minutes later: held back
    assert len(told()) == 1
    turn(flux_object, "False", "HealthCheckFailed")
    flux_health_notify(cluster=cluster)  # failing again: what was told is still true
    later(20)
    assert services.state_changes_flush() == 0 and len(told()) == 1
    # Recovered for good: told once the quiet period is over, by the flush (no sync needed).
    later(5)
    turn(flux_object, "True")
    flux_health_notify(cluster=cluster)
    assert len(told()) == 1
    later(QUIET_SECONDS // 60 + 1)
    assert services.state_changes_flush() == 1
    assert told()[-1] == "Kustomization payments/payments-apps is ready again"


def test_a_new_object_failing_on_a_watched_cluster_is_news(slack, flux_object, cluster):
    flux_health_notify(cluster=cluster)
    FluxObject.objects.create(
        cluster=cluster, uid="k-2", resource_version="1", kind="HelmRelease", api_version="x/v1",
        namespace="payments", name="redis", ready_status="False", ready_reason="InstallFailed",
    )  # fmt: skip
    flux_health_notify(cluster=cluster)
    assert told() == ["HelmRelease payments/redis is not ready"]


def test_objects_of_no_team_and_suspended_ones_tell_nothing(slack, flux_object, cluster):
    flux_health_notify(cluster=cluster)
    FluxObject.objects.filter(pk=flux_object.pk).update(suspended=True, ready_status="False")
    FluxObject.objects.create(cluster=cluster, uid="k-3", resource_version="1", kind="GitRepository",
                              api_version="x/v1", namespace="flux-system", name="gitops", ready_status="False")  # fmt: skip
    flux_health_notify(cluster=cluster)
    assert told() == []


def test_the_sync_tells_through_its_signal(slack, cluster, teams):
    sync.cluster_sync(cluster=cluster)  # the demo cluster: namespaces labelled with their teams
    owned = dict(Namespace.objects.filter(cluster=cluster, team__isnull=False).values_list("name", "team_id"))
    expected = {
        f"flux:{cluster.pk}:{uid}"
        for uid, namespace, target in FluxObject.objects.filter(
            cluster=cluster, ready_status__in=["True", "False"], suspended=False
        ).values_list("uid", "namespace", "target_namespace")
        if len({owned[n] for n in (namespace, target) if n in owned}) == 1
    }
    assert expected, "the demo cluster has team-owned Flux objects"
    assert set(StateWatch.objects.values_list("key", flat=True)) == expected
    assert told() == []  # the first sight of a cluster is not news

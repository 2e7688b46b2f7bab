"""The daily digests: new high-severity findings per team's channel; stuck readers, as counts, to owners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.digests import services
from apps.lessons.models import StuckFlag
from apps.notifications.models import Notification, SlackLink
from apps.readiness.models import Finding
from tests.factories import LessonFactory, TeamFactory, UserFactory
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


def finding(
    team, *, rule="graceful-termination", severity="high", age=timedelta(hours=2), name="api", **extra
):
    cluster, _ = Cluster.objects.get_or_create(name="c", defaults={"kubeconfig_path": "/nonexistent"})
    return Finding.objects.create(
        cluster=cluster, team=team, namespace="payments", workload_kind="Deployment", workload_name=name,
        workload_uid=f"{name}-{rule}", rule=rule, severity=severity, detail="no preStop hook",
        first_seen=timezone.now() - age, **extra,
    )  # fmt: skip


def test_new_high_findings_go_to_the_teams_channel_once_a_day(slack):
    team = TeamFactory(slug="payments", name="Payments", slack_channel="C0PAYMENTS")
    finding(team, name="api")
    finding(team, name="worker")
    finding(team, name="old", age=timedelta(days=3))  # not new
    finding(team, name="medium", rule="liveness-probe", severity="medium")  # not high
    finding(team, name="waived", exempt_reason="Waived by an SRE", exempt_until=None)  # exempt
    assert services.readiness_digest_send() == 1
    assert services.readiness_digest_send() == 1  # the same day again: the same digest, not a second
    [digest] = Notification.objects.filter(kind="readiness.digest")
    assert digest.title == "Payments: 2 new high-severity readiness findings"
    assert [line.split(":")[0] for line in digest.lines] == ["payments/api", "payments/worker"]
    drain()
    [message] = slack.posted("C0PAYMENTS")
    assert "/teams/payments/readiness/" in message["blocks"][0]["text"]["text"]


def test_stuck_readers_reach_the_lessons_owner_as_counts_never_names(slack, settings):
    owner = UserFactory(username="sre-owner")
    SlackLink.objects.create(user=owner, slack_team_id="T", slack_user_id="U0OWNER", via="code")
    owned = LessonFactory(title="Probes", owner=owner)
    orphan = LessonFactory(title="Tracing", owner=None)
    readers = [UserFactory(username=f"reader{n}") for n in range(3)]
    for reader in readers:
        StuckFlag.objects.create(user=reader, lesson=owned, comment="where is the port?", signed=True)
    StuckFlag.objects.create(user=readers[0], lesson=orphan)
    settings.SHIRUBE_SLACK_SRE_CHANNEL = "C0SRE"
    assert services.stuck_digest_send() == 2
    drain()
    [to_owner] = slack.posted("U0OWNER")
    assert "“Probes”: 3 readers" in to_owner["blocks"][1]["text"]["text"]
    [to_sres] = slack.posted("C0SRE")
    assert "“Tracing”: 1 reader" in to_sres["blocks"][1]["text"]["text"]
    for message in (to_owner, to_sres):
        assert "reader0" not in str(message) and "where is the port" not in str(message)

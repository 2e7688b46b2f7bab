"""Each person's notification settings page, and the Slack link flow's start."""

from __future__ import annotations

import pytest

from apps.notifications.models import Preference, SlackLink, SlackLinkCode
from apps.notifications.services import preference_enabled

pytestmark = pytest.mark.django_db


def test_unticking_a_box_turns_that_kind_off_on_that_channel_only(client_for, member):
    client = client_for(member)
    page = client.get("/settings/notifications/")
    assert page.status_code == 200 and b'value="approval.requested:email" checked' in page.content
    ticked = page.content.decode().split('name="on" value="')[1:]
    keep = [v.split('"')[0] for v in ticked if not v.startswith("approval.decided:email")]
    assert client.post("/settings/notifications/", {"on": keep}).status_code == 302
    assert not preference_enabled(member, "approval.decided", "email")
    assert preference_enabled(member, "approval.decided", "slack")
    assert Preference.objects.filter(user=member, enabled=False).count() == 1
    # Channel-only kinds (a team's channel) have no switch.
    assert b"flux.health" not in page.content


def test_a_link_code_is_shown_once_and_kept_only_as_a_hash(client_for, lead):
    SlackLink.objects.filter(user=lead).delete()
    page = client_for(lead).post("/settings/notifications/slack/link/")
    code = page.content.decode().split("/shirube link ")[1].split("<")[0]
    assert len(code) == 13 and not SlackLinkCode.objects.filter(code_hash__contains=code).exists()
    assert code not in client_for(lead).get("/settings/notifications/").content.decode()


def test_unlinking_is_audited(client_for, member):
    from apps.audit.models import AuditEvent

    assert client_for(member).post("/settings/notifications/slack/unlink/").status_code == 302
    assert not SlackLink.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(action="config.slacklink", outcome="deleted").exists()

from __future__ import annotations

import pytest

from apps.notifications.models import SlackLink
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401
from tests.environments.envfixtures import envs, flux_phase, people  # noqa: F401
from tests.environments.runnerfixtures import alice, flux, repo, staging  # noqa: F401
from tests.harness.notify_fixtures import _slack_server, _smtp_server, slack, smtp  # noqa: F401


def link(user, slack_user_id: str, team_id: str = "T0SHIRUBE") -> SlackLink:
    return SlackLink.objects.create(user=user, slack_team_id=team_id, slack_user_id=slack_user_id, via="code")


@pytest.fixture
def post_signed(client, slack):  # noqa: F811 (the fixture, imported above)
    """POST a body to a Slack endpoint signed exactly as Slack signs it (or with the given headers)."""
    from tests.harness.notify_fixtures import slack_sign

    def post(path: str, body: bytes, **headers):
        signed = {**slack_sign(body), **headers}
        return client.generic("POST", path, body, content_type="application/x-www-form-urlencoded", **signed)

    return post

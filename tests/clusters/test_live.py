"""Live pages' stream: a change of one of the team's clusters reaches its open pages, paced."""

import threading

import pytest

from apps.clusters import live
from apps.clusters.selectors.team import team_clusters
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def read_lines(stream, until: bytes, limit: int = 50) -> list[bytes]:
    """What the stream sends, up to the line that contains `until` (a bounded number of chunks)."""
    got = []
    for chunk in stream:
        got.append(chunk)
        if until in chunk or len(got) >= limit:
            return got
    return got


def publish_soon(cluster_id: int, delay: float = 0.3) -> None:
    threading.Timer(delay, live.live_publish, kwargs={"cluster_id": cluster_id}).start()


def test_a_change_of_the_teams_cluster_sends_changed(synced, teams, monkeypatch):
    monkeypatch.setattr(live, "STREAM_SECONDS", 5)
    stream = live.stream_sync({c.pk for c in team_clusters(team=teams["payments"])})
    assert next(stream).startswith(b"retry:")  # subscribed once the first line is out
    publish_soon(synced.pk)
    assert b"event: changed\ndata: 1\n\n" in read_lines(stream, b"changed")
    stream.close()


def test_a_change_of_another_cluster_sends_nothing(synced, teams, monkeypatch):
    monkeypatch.setattr(live, "STREAM_SECONDS", 2)
    stream = live.stream_sync({synced.pk})
    next(stream)
    publish_soon(synced.pk + 1000)
    assert not any(b"changed" in line for line in stream)  # the stream ends after 2 s


def test_a_burst_is_one_changed_a_second():
    pacer = live.Pacer({7}, now=100.0)
    pacer.note(7)
    assert pacer.lines(100.0) == b"event: changed\ndata: 1\n\n"  # the first goes at once
    for i in range(40):  # forty writes within the next second
        pacer.note(7)
        assert pacer.lines(100.0 + i / 50) == b""
    assert pacer.wait(100.5) == pytest.approx(0.5)
    assert pacer.lines(101.0) == b"event: changed\ndata: 1\n\n"  # then one for all of them
    assert pacer.lines(101.5) == b""


# The view closes its database connection (a stream must not hold one): a transactional test.
@pytest.mark.django_db(transaction=True)
def test_the_stream_answers_only_who_may_read_the_team(client_for, alice, synced, settings):
    response = client_for(alice).get("/teams/payments/live/")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    response.close()
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    assert client_for(UserFactory()).get("/teams/payments/live/").status_code == 404


def test_without_redis_pages_poll_and_the_stream_says_no_content(client_for, alice, synced, settings):
    settings.REDIS_URL = ""
    client = client_for(alice)
    assert client.get("/teams/payments/live/").status_code == 204
    html = client.get("/teams/payments/").content.decode()
    assert "sse-connect" not in html and 'hx-trigger="every 5s"' in html


def test_installations_sharing_a_redis_server_do_not_hear_each_other(synced, settings, monkeypatch):
    # Redis pub/sub ignores database numbers: the channel names the database instead.
    monkeypatch.setattr(live, "STREAM_SECONDS", 2)
    stream = live.stream_sync({synced.pk})
    next(stream)
    ours = settings.REDIS_URL
    settings.REDIS_URL = ours.rsplit("/", 1)[0] + "/15"  # another installation, same server
    live._CLIENT = None
    try:
        live.live_publish(cluster_id=synced.pk)
    finally:
        settings.REDIS_URL = ours
        live._CLIENT = None
    assert not any(b"changed" in line for line in stream)

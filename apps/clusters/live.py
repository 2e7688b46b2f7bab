"""Open pages learn that a cluster's snapshot changed, within a second: Redis pub/sub, then SSE.

The sync (a watch session's writes, or a full list) publishes the cluster's id on one
channel after its writes are committed; each web process holds one subscription and
hands every message to the page streams open in it (`live_events`), which send an SSE
`changed` event to pages showing that cluster. A page then asks for its fragment as it
always did (one htmx request, whose answer is cached per sync), so the number of viewers
costs the Kubernetes API nothing. Without Redis nothing is published and pages poll.
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)

CHANNEL = "shirube:live"


def live_publish(*, cluster_id: int) -> None:
    """Tell open pages that this cluster's data changed; a Redis failure costs only the hint."""
    if not settings.REDIS_URL:
        return
    import redis

    try:
        _client().publish(CHANNEL, str(cluster_id))
    except redis.exceptions.RedisError:
        log.warning("could not tell open pages that cluster %s changed", cluster_id, exc_info=True)


_CLIENT = None


def _client():
    global _CLIENT
    if _CLIENT is None:
        import redis

        _CLIENT = redis.Redis.from_url(settings.REDIS_URL)
    return _CLIENT

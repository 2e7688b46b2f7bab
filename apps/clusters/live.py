"""Open pages learn that a cluster's snapshot changed, within a second: Redis pub/sub, then SSE.

The sync (a watch session's writes, or a full list) publishes the cluster's id on one
channel after its writes are committed; each web process holds one subscription and
hands every message to the page streams open in it (`live_events`), which send an SSE
`changed` event to pages showing that cluster. A page then asks for its fragment as it
always did (one htmx request, whose answer is cached per sync), so the number of viewers
costs the Kubernetes API nothing. Without Redis nothing is published and pages poll.
"""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings

log = logging.getLogger(__name__)


def _channel() -> str:
    """The pub/sub channel of this Shirube: Redis's pub/sub ignores database numbers, so two
    installations sharing one Redis server (each with its own database) would hear each other."""
    from urllib.parse import urlsplit

    database = urlsplit(settings.REDIS_URL or "").path.strip("/") or "0"
    return f"shirube:live:{database}"


# With a stream, a page is told of changes within a second; this slow poll is the net under it,
# should a stream be lost without the browser noticing.
STREAM_POLL_SECONDS = 60


def live_context(team, *, poll: int, keep_poll: bool = False) -> dict:
    """How a team's page stays live: its stream and a slow poll, or (no Redis) its poll alone.

    `keep_poll`: the page also shows what no sync publishes (a deployment's steps), so it keeps
    its own poll beside the stream.
    """
    from django.urls import reverse

    if not settings.REDIS_URL:
        return {"poll": poll, "live_url": "", "live_trigger": f"every {poll}s"}
    every = poll if keep_poll else STREAM_POLL_SECONDS
    return {
        "poll": every,
        "live_url": reverse("clusters:live", args=[team.slug]),
        "live_trigger": f"sse:changed, live:resync, every {every}s",
    }


def live_publish(*, cluster_id: int) -> None:
    """Tell open pages that this cluster's data changed; a Redis failure costs only the hint."""
    if not settings.REDIS_URL:
        return
    import redis

    try:
        _client().publish(_channel(), str(cluster_id))
    except redis.exceptions.RedisError:
        log.warning("could not tell open pages that cluster %s changed", cluster_id, exc_info=True)


_CLIENT = None


def _client():
    global _CLIENT
    if _CLIENT is None:
        import redis

        _CLIENT = redis.Redis.from_url(settings.REDIS_URL)
    return _CLIENT


# A stream ends after this long and the browser opens the next (EventSource reconnects by
# itself): the viewer's session and team are checked again, and no stream lives for ever.
STREAM_SECONDS = 300
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15
# At most one "changed" per stream this often: a burst of writes (four a second) costs each
# page one request a second, not four; the first change after a quiet spell goes at once.
MIN_INTERVAL = 1.0
# Sent to every stream when the subscription was lost and is back: something may have been missed.
EVERY_CLUSTER = 0
RETRY_MS = 2000


class Pacer:
    """When a stream sends `changed`, and when a keep-alive: shared by the two streams below."""

    def __init__(self, cluster_ids: set[int], now: float) -> None:
        self.cluster_ids = cluster_ids
        self.pending = False
        self.last_sent = 0.0
        self.last_line = now
        self.ends = now + STREAM_SECONDS

    def note(self, cluster_id: int) -> None:
        if cluster_id == EVERY_CLUSTER or cluster_id in self.cluster_ids or not self.cluster_ids:
            self.pending = True

    def wait(self, now: float) -> float:
        """Seconds until something may be due."""
        until = [self.ends - now, self.last_line + KEEPALIVE_SECONDS - now]
        if self.pending:
            until.append(self.last_sent + MIN_INTERVAL - now)
        return max(0.0, min(until))

    def lines(self, now: float) -> bytes:
        """What to send now (often nothing)."""
        if self.pending and now - self.last_sent >= MIN_INTERVAL:
            self.pending, self.last_sent, self.last_line = False, now, now
            return b"event: changed\ndata: 1\n\n"
        if now - self.last_line >= KEEPALIVE_SECONDS:
            self.last_line = now
            return b": keep-alive\n\n"
        return b""


def stream_sync(cluster_ids: set[int]):
    """The stream for a threaded (WSGI) server: a thread and a Redis subscription per viewer.

    Production serves ASGI (`stream_async`); this one keeps pages live under `make run`'s
    development server and the tests' live server, which are threaded WSGI.
    """
    import time

    import redis

    pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    pacer = Pacer(cluster_ids, time.monotonic())
    try:
        pubsub.subscribe(_channel())
        yield f"retry: {RETRY_MS}\n\n".encode()
        while time.monotonic() < pacer.ends:
            message = pubsub.get_message(timeout=max(0.05, pacer.wait(time.monotonic())))
            if message is not None and message["type"] == "message":
                pacer.note(_cluster_id(message["data"]))
            if lines := pacer.lines(time.monotonic()):
                yield lines
    except redis.exceptions.ConnectionError:
        # Redis went away: the stream ends, the browser reconnects and its page reads again.
        log.warning("a live page's stream lost Redis")
    finally:
        pubsub.close()


async def stream_async(cluster_ids: set[int]):
    """The stream for an ASGI server: a coroutine per viewer, one Redis subscription per process."""
    import asyncio
    import time

    queue = _HUB.subscribe()
    pacer = Pacer(cluster_ids, time.monotonic())
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while time.monotonic() < pacer.ends:
            try:
                cluster_id = await asyncio.wait_for(queue.get(), max(0.05, pacer.wait(time.monotonic())))
                pacer.note(cluster_id)
            except TimeoutError:
                pass
            if lines := pacer.lines(time.monotonic()):
                yield lines
    finally:
        _HUB.unsubscribe(queue)


def _cluster_id(data) -> int:
    try:
        return int(data)
    except (TypeError, ValueError):
        return -1


class _Hub:
    """One Redis subscription per web process, handing each message to every open stream."""

    def __init__(self) -> None:
        self.queues: set = set()
        self.task = None

    def subscribe(self):
        import asyncio

        queue = asyncio.Queue(maxsize=64)
        self.queues.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._listen())
        return queue

    def unsubscribe(self, queue) -> None:
        self.queues.discard(queue)

    def _hand(self, cluster_id: int) -> None:
        import asyncio

        for queue in list(self.queues):
            # A stream that far behind will send "changed" anyway.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(cluster_id)

    async def _listen(self) -> None:
        import asyncio

        import redis.asyncio as aioredis

        lost = False
        while self.queues:
            client = aioredis.Redis.from_url(settings.REDIS_URL)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(_channel())
                    if lost:
                        self._hand(EVERY_CLUSTER)  # back: pages read again what they may have missed
                        lost = False
                    while self.queues:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None and message["type"] == "message":
                            self._hand(_cluster_id(message["data"]))
            except Exception:
                log.warning("the live pages' Redis subscription failed; trying again", exc_info=True)
                lost = True
                await asyncio.sleep(1.0)
            finally:
                await client.aclose()


_HUB = _Hub()

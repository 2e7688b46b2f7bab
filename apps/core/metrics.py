"""Shirube's own Prometheus metrics: what they are, how a scrape reads them, and where /metrics answers.

Counters and histograms are updated where the work happens (requests, the sync, deployments,
Flux actions, Celery tasks). gunicorn and Celery's prefork pool run several processes: with
PROMETHEUS_MULTIPROC_DIR set, each process writes its values to files there and a scrape adds
them up (prometheus-client's multiprocess mode); without it (runserver, tests) the one process's
registry is read. What the database or the broker knows better than any process (seconds since a
cluster's last good sync, the oldest unfinished deployment, queue lengths) is read at scrape time
by collectors that the apps owning that data add here: core sits on the lowest floor.

/metrics is served by a wrapper around the ASGI app (gunicorn with uvicorn's workers) or the WSGI
app (runserver), before Django's host check and URL routing, and only on SHIRUBE_METRICS_PORT: a
port the Service behind the ingress does not expose. On the web port the path reaches Django,
which has no such URL (404).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable

# The multiprocess files go where PROMETHEUS_MULTIPROC_DIR points; the folder must exist before
# the first value is written (in /tmp, an emptyDir in the chart's pods).
if _MULTIPROC_DIR := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "shirube_http_requests", "HTTP requests answered, by view, method and status",
    ["view", "method", "status"],
)  # fmt: skip
HTTP_DURATION = Histogram(
    "shirube_http_request_duration_seconds",
    "Time to answer an HTTP request, by view",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# A Summary (count and sum) rather than a histogram: clusters x kinds x buckets would be
# thousands of series at 200 clusters, and the average per kind is what an SRE compares.
SYNC_DURATION = Summary(
    "shirube_sync_duration_seconds", "Time to sync one kind of one cluster (kind=all: the whole run)",
    ["cluster", "kind"],
)  # fmt: skip
SYNC_OBJECTS = Gauge(
    "shirube_sync_objects", "Objects the last sync of a kind saw", ["cluster", "kind"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
SYNC_ERRORS = Counter(
    "shirube_sync_errors", "Syncs of a kind that failed, by reason (run: the whole run stopped)",
    ["cluster", "kind", "reason"],
)  # fmt: skip
CELERY_TASKS = Counter("shirube_celery_tasks", "Celery tasks run, by task and outcome", ["task", "outcome"])
DEPLOYMENTS = Counter("shirube_deployments", "Deployments finished, by kind and outcome", ["kind", "outcome"])
DEPLOYMENT_STEP = Histogram(
    "shirube_deployment_step_duration_seconds",
    "Time a deployment spent in one step (queued, committing, committed, reconciling)",
    ["step"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200),
)
FLUX_ACTIONS = Counter(
    "shirube_flux_actions", "Flux actions finished, by action and outcome", ["action", "outcome"]
)
# The notifications outbox (issue 16) counts each delivery attempt here: notification_count().
NOTIFICATIONS = Counter(
    "shirube_notifications", "Notification deliveries, by channel and outcome", ["channel", "outcome"]
)


def notification_count(*, channel: str, outcome: str) -> None:
    """The hook for the notifications outbox: one delivery attempt (outcome: sent, retry, failed)."""
    NOTIFICATIONS.labels(channel=channel, outcome=outcome).inc()


def sync_kind_record(*, cluster: str, kind: str, seconds: float, seen: int, reason: str = "") -> None:
    """One kind of one sync: its time, the objects it saw, and its failure reason if it failed."""
    SYNC_DURATION.labels(cluster=cluster, kind=kind).observe(seconds)
    if reason:
        SYNC_ERRORS.labels(cluster=cluster, kind=kind, reason=reason).inc()
    else:
        SYNC_OBJECTS.labels(cluster=cluster, kind=kind).set(seen)


# -- scrape-time collectors ----------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]
_SCRAPE_COLLECTORS: dict[str, ScrapeCollector] = {}


def scrape_collector_add(*, name: str, collect: ScrapeCollector) -> None:
    """Read something at every scrape of the web's /metrics (higher apps add theirs in ready())."""
    _SCRAPE_COLLECTORS[name] = collect


class _ScrapeTime:
    """Runs the scrape-time collectors; one failing (the database away) costs only its own metrics."""

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "shirube_scrape_collector_up", "1 if a scrape-time collector answered", labels=["collector"]
        )
        for name, collect in sorted(_SCRAPE_COLLECTORS.items()):
            try:
                metrics = list(collect())
            except Exception:
                log.exception("metrics: the %s collector failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up


class _ThisProcess:
    """The default registry (one process: runserver, tests) as a collector of another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(*, scrape_time: bool) -> CollectorRegistry:
    """What one scrape reads: every process's values, plus the scrape-time collectors if asked."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if scrape_time:
        registry.register(_ScrapeTime())
    return registry


def _queue_lengths() -> Iterable[Metric]:
    """Tasks waiting in each Celery queue of the Redis broker (kombu keeps one list per priority)."""
    import redis
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return []
    queues = settings.SHIRUBE_TASK_QUEUES
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        # kombu's Redis transport: "<queue>" for priority 0, "<queue>\x06\x16<n>" for 3, 6 and 9.
        for queue in queues:
            for key in (queue, *(f"{queue}\x06\x16{n}" for n in (3, 6, 9))):
                pipe.llen(key)
        counts = pipe.execute()
    finally:
        client.close()
    family = GaugeMetricFamily(
        "shirube_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
    )
    for i, queue in enumerate(queues):
        family.add_metric([queue], sum(counts[i * 4 : i * 4 + 4]))
    return [family]


scrape_collector_add(name="celery_queues", collect=_queue_lengths)


# -- where /metrics answers -------------------------------------------------------------


def _local_port(environ: dict) -> int | None:
    """The port the request came in on, never what the client claims (the Host header)."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        try:
            return sock.getsockname()[1]
        except (OSError, IndexError, TypeError):
            return None
    # Django's runserver (wsgiref) sets SERVER_PORT from its own socket; other servers may take
    # it from the Host header, which a client behind the ingress controls: not trusted there.
    if str(environ.get("SERVER_SOFTWARE", "")).startswith("WSGIServer/"):
        try:
            return int(environ.get("SERVER_PORT", ""))
        except ValueError:
            return None
    return None


def _scrape_answer(method: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The answer to a request for /metrics on the metrics port: status, headers and body."""
    if method not in ("GET", "HEAD"):
        return "405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")], b""
    body = generate_latest(scrape_registry(scrape_time=True))
    headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))]
    return "200 OK", headers, b"" if method == "HEAD" else body


def metrics_wsgi(app: Callable, *, port: int) -> Callable:
    """Wrap the WSGI app: GET /metrics on `port` is the scrape (no host check, no session, no log-in)."""

    def application(environ: dict, start_response: Callable):
        if port and environ.get("PATH_INFO") == "/metrics" and _local_port(environ) == port:
            status, headers, body = _scrape_answer(environ.get("REQUEST_METHOD", ""))
            start_response(status, headers)
            return [body]
        return app(environ, start_response)

    return application


def _scrape_in_thread(method: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The scrape-time collectors use the ORM, which is synchronous: run them in a thread and give
    the thread's database connection back as Django does around a request (no handler runs here)."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        return _scrape_answer(method)
    finally:
        close_old_connections()


def metrics_asgi(app: Callable, *, port: int) -> Callable:
    """Wrap the ASGI app (gunicorn with uvicorn's workers): the same scrape, on `port` only.

    The port is the ASGI scope's `server`, which uvicorn takes from the accepted socket
    (sockname), never from the Host header, so a client behind the ingress cannot claim it.
    """
    from asgiref.sync import sync_to_async

    async def application(scope: dict, receive: Callable, send: Callable) -> None:
        server = scope.get("server") or (None, None)
        if port and scope["type"] == "http" and scope.get("path") == "/metrics" and server[1] == port:
            status, headers, body = await sync_to_async(_scrape_in_thread)(scope.get("method", ""))
            await send({
                "type": "http.response.start", "status": int(status.split()[0]),
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return application


def request_metrics(get_response: Callable) -> Callable:
    """Middleware: count and time every request by the view that answered it (bounded labels)."""

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        match = getattr(request, "resolver_match", None)
        # Unresolved paths (404s, static files, refused hosts) share one label: any path a
        # client invents must not become a series of its own.
        view = (match.view_name or match._func_path) if match else "unmatched"
        status = str(response.status_code)
        HTTP_REQUESTS.labels(view=view, method=_method(request.method), status=status).inc()
        HTTP_DURATION.labels(view=view).observe(time.perf_counter() - started)
        return response

    return middleware


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


# -- Celery ------------------------------------------------------------------------------


def celery_metrics_connect() -> None:
    """Count task outcomes in every pool process, and serve /metrics from the worker's main process."""
    from celery import signals

    @signals.task_postrun.connect(weak=False)
    def task_done(sender=None, state=None, **kwargs) -> None:
        name = getattr(sender, "name", None) or "unknown"
        CELERY_TASKS.labels(task=name, outcome=(state or "unknown").lower()).inc()

    @signals.worker_init.connect(weak=False)
    def serve(**kwargs) -> None:
        from django.conf import settings

        port = settings.SHIRUBE_METRICS_PORT
        if not port:
            return
        try:
            # The main process serves the files its pool processes write; the database and
            # broker collectors stay with web (one source per series).
            start_http_server(port, registry=scrape_registry(scrape_time=False))
        except OSError as exc:
            log.error("metrics: cannot serve /metrics on port %s: %s", port, exc)

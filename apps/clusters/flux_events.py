"""Flux events pushed in: a hint to read one object again, never data taken on trust.

Flux's notification-controller posts events to a `Provider` of type `generic-hmac`: the
body is the event (JSON), and `X-Signature: <algorithm>=<hex digest>` is an HMAC of the
body keyed by the token in the Provider's Secret (docs/deploy.md shows both). Each
cluster has its own key, in a file named after the cluster under
SHIRUBE_FLUX_EVENTS_KEY_DIR (mounted like every other secret). There is no timestamp in
the signature, so a captured request verifies again: an event therefore only asks for
the object it names to be read again from the API (the object itself never comes from
the request), and that at most once per SHIRUBE_FLUX_EVENT_REFRESH_SECONDS per object,
so a replayed or flooded event costs little. A body over 64 KiB, an unsigned, wrongly
signed or malformed one is refused and counted, never acted on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from apps.clusters import kube, reduce, sync
from apps.clusters.live import live_publish
from apps.clusters.models import Cluster, FluxObject
from apps.core.rows import rows_change

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
# Flux signs with SHA-256 today; the longer ones are accepted if it moves on, weaker ones never.
ALGORITHMS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
MIN_KEY_BYTES = 16
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")
_API_VERSION = re.compile(r"[a-z0-9.-]+\.fluxcd\.io/[a-z0-9]+")


class Refused(Exception):
    """Why an event was not acted on; `status` is the HTTP answer, `reason` what is counted."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Hint:
    cluster_id: int
    kind: str
    namespace: str
    name: str
    api_version: str


def cluster_key(cluster_name: str) -> bytes | None:
    """The cluster's HMAC key from its file, or None (receiving is off for it)."""
    folder = settings.SHIRUBE_FLUX_EVENTS_KEY_DIR
    if not folder or not _NAME.fullmatch(cluster_name):
        return None
    try:
        key = (Path(folder) / cluster_name).read_bytes().strip()
    except OSError:
        return None
    if len(key) < MIN_KEY_BYTES:
        log.warning("the Flux events key of %s is under %d bytes: not used", cluster_name, MIN_KEY_BYTES)
        return None
    return key


def signature_check(*, body: bytes, header: str, key: bytes) -> None:
    """`X-Signature: <algorithm>=<hex>` must be the body's HMAC with the key (compared in constant time)."""
    algorithm, _, digest = (header or "").strip().partition("=")
    if not header:
        raise Refused(401, "unsigned")
    if algorithm.lower() not in ALGORITHMS or not digest:
        raise Refused(401, "unknown signature algorithm")
    expected = hmac.new(key, body, ALGORITHMS[algorithm.lower()]).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise Refused(401, "bad signature")


def event_parse(*, cluster: Cluster, body: bytes) -> Hint:
    """The object an event names, if it is a Flux object in a well-formed event."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(400, "not JSON") from None
    involved = event.get("involvedObject") if isinstance(event, dict) else None
    if not isinstance(involved, dict):
        raise Refused(400, "no involvedObject")
    kind, namespace, name = (involved.get(k) for k in ("kind", "namespace", "name"))
    api_version = involved.get("apiVersion") or ""
    if kind not in kube.FLUX_PLURALS:
        raise Refused(400, "not a Flux kind")
    if not all(isinstance(v, str) and _NAME.fullmatch(v) for v in (namespace, name)):
        raise Refused(400, "malformed name")
    if not isinstance(api_version, str) or (api_version and not _API_VERSION.fullmatch(api_version)):
        raise Refused(400, "malformed apiVersion")
    return Hint(cluster.pk, kind, namespace, name, api_version)


def flux_event_receive(*, cluster_name: str, body: bytes, signature: str) -> Hint | None:
    """Check a pushed event; queue a refresh of its object unless one ran lately (None then).

    Raises Refused (counted) for anything not to act on.
    """
    cluster = None
    if _NAME.fullmatch(cluster_name):
        cluster = Cluster.objects.filter(name=cluster_name, enabled=True).first()
    key = cluster_key(cluster_name) if cluster is not None else None
    if cluster is None or key is None:
        raise Refused(404, "no receiver")  # unknown, disabled, or no key: all alike to the sender
    try:
        if len(body) > MAX_BODY:
            raise Refused(413, "too large")
        signature_check(body=body, header=signature, key=key)
        hint = event_parse(cluster=cluster, body=body)
    except Refused as refused:
        _count(cluster.pk, f"refused: {refused.reason}")
        raise
    _count(cluster.pk, "accepted")
    rate_key = f"flux-hint:{cluster.pk}:{hint.kind}:{hint.namespace}:{hint.name}"
    if not cache.add(rate_key, 1, settings.SHIRUBE_FLUX_EVENT_REFRESH_SECONDS):
        _count(cluster.pk, "accepted, refreshed lately")
        return None
    from apps.clusters.tasks import flux_object_refresh

    args = (hint.cluster_id, hint.kind, hint.namespace, hint.name, hint.api_version)
    transaction.on_commit(lambda: flux_object_refresh.delay(*args))
    return hint


def _counter(cluster_id: int, outcome: str) -> str:
    return f"flux-events:{cluster_id}:" + re.sub(r"[^a-z]+", "-", outcome)


def _count(cluster_id: int, outcome: str) -> None:
    key = _counter(cluster_id, outcome)
    cache.add(key, 0, None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between the two calls: start again
        cache.set(key, 1, None)


OUTCOMES = (
    "accepted", "accepted, refreshed lately", "refused: unsigned", "refused: unknown signature algorithm",
    "refused: bad signature", "refused: too large", "refused: not JSON", "refused: no involvedObject",
    "refused: not a Flux kind", "refused: malformed name", "refused: malformed apiVersion",
)  # fmt: skip


def flux_event_counts(cluster_id: int) -> dict[str, int]:
    """How many pushed events were accepted and refused (why), since the cache last lost them."""
    keys = {_counter(cluster_id, outcome): outcome for outcome in OUTCOMES}
    return {keys[key]: value for key, value in cache.get_many(list(keys)).items() if value}


def flux_object_refresh(
    *, cluster: Cluster, kind: str, namespace: str, name: str, api_version: str = ""
) -> str:
    """Read one Flux object from the API and write it (or delete its row if it is gone)."""
    row = FluxObject.objects.filter(cluster=cluster, kind=kind, namespace=namespace, name=name).first()
    version = row.api_version if row is not None else api_version
    if not version:
        return "unknown version"  # not synced yet and the event named none: the sync will find it
    api = kube.api_client(cluster)
    path = kube.object_path(version, kind, namespace, name)
    spec = kube.KindSpec(kube.FLUX_PLURALS[kind], kind, version.split("/")[0], version.split("/")[1], "")
    plan = sync.KindPlan(spec, FluxObject, reduce.flux_object, kind_filter=kind)
    try:
        obj = kube.get_object(api, path)
    except kube.KubeError as exc:
        if exc.status != 404:
            raise
        obj = None
    result = sync.KindResult()
    upserts, deletes = {}, set()
    if obj is None:
        if row is not None:
            deletes.add(row.uid)
    else:
        obj.setdefault("kind", kind)
        reduced = sync.object_reducer(cluster, plan, reduce.flux_object, result)(obj)
        if reduced is None:
            return "malformed"
        upserts[reduced["uid"]] = reduced
    with transaction.atomic():
        written = rows_change(
            scope=sync.scope_of(cluster, plan), key="uid", upserts=upserts, deletes=deletes,
            compare=["resource_version"], write=[f for f in sync.fields_of(FluxObject) if f != "uid"],
            fixed={"cluster": cluster},
        )  # fmt: skip
    if written.created or written.updated or written.deleted:
        live_publish(cluster_id=cluster.pk)
        return "written"
    return "unchanged"

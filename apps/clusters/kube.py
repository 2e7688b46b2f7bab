"""The one place that talks to the Kubernetes API (official client, raw JSON).

Lists are paginated (limit + continue) and parsed from the raw response with
orjson: the client's model deserialisation is several times slower on large
clusters. A 410 Gone on a continue token restarts that list from scratch once.
Watches stream newline-delimited events from a list's resourceVersion, read
line by line as the chunks arrive. Functions return plain dicts; nothing else
in the project imports kubernetes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import orjson
import urllib3
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class KindSpec:
    key: str  # our name for it, e.g. "deployments"
    kind: str  # Kubernetes kind, e.g. "Deployment"
    group: str  # "" for the core group
    version: str
    plural: str
    field_selector: str = ""
    namespace: str = ""  # empty: across all namespaces

    @property
    def path(self) -> str:
        prefix = "/api/v1" if not self.group else f"/apis/{self.group}/{self.version}"
        scope = f"/namespaces/{self.namespace}" if self.namespace else ""
        return f"{prefix}{scope}/{self.plural}"


NAMESPACES = KindSpec("namespaces", "Namespace", "", "v1", "namespaces")
KINDS: list[KindSpec] = [
    NAMESPACES,
    KindSpec("deployments", "Deployment", "apps", "v1", "deployments"),
    KindSpec("statefulsets", "StatefulSet", "apps", "v1", "statefulsets"),
    KindSpec("daemonsets", "DaemonSet", "apps", "v1", "daemonsets"),
    KindSpec("replicasets", "ReplicaSet", "apps", "v1", "replicasets"),
    KindSpec("jobs", "Job", "batch", "v1", "jobs"),
    KindSpec("cronjobs", "CronJob", "batch", "v1", "cronjobs"),
    KindSpec("pods", "Pod", "", "v1", "pods"),
    KindSpec("serviceaccounts", "ServiceAccount", "", "v1", "serviceaccounts"),
    KindSpec("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets"),
    KindSpec("events", "Event", "", "v1", "events", field_selector="type=Warning"),
]


def kind_in(key: str, namespace: str) -> KindSpec:
    """One of KINDS, listed in a single namespace."""
    return replace(next(spec for spec in KINDS if spec.key == key), namespace=namespace)


# Flux kinds the portal reads, by API group. Versions are never pinned: each
# kind is read at the first version the cluster serves it at, in the server's
# order of preference (UIs that pinned v1beta versions broke when Flux dropped them).
FLUX_KINDS: dict[str, tuple[str, ...]] = {
    "source.toolkit.fluxcd.io": ("GitRepository", "OCIRepository", "HelmRepository", "HelmChart"),
    "kustomize.toolkit.fluxcd.io": ("Kustomization",),
    "helm.toolkit.fluxcd.io": ("HelmRelease",),
    "image.toolkit.fluxcd.io": ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"),
}


class KubeError(Exception):
    """A request for one kind failed; other kinds may still work.

    Its text (str) is a summary any page may show: it names what went wrong,
    never a host, a port or the server's own words. `detail` is for SREs and the log.
    """

    def __init__(self, summary: str, status: int | None = None, *, detail: str = ""):
        self.status = status
        self.detail = detail or summary
        super().__init__(summary)


class WatchExpired(KubeError):
    """The resourceVersion a watch asked for is too old (410 Gone): list the kind again."""


class ClusterUnreachable(Exception):
    """Nothing answered (connection refused, DNS, TLS, or no credentials); text and detail as KubeError."""

    def __init__(self, summary: str, *, detail: str = ""):
        self.detail = detail or summary
        super().__init__(summary)


UNREACHABLE = "the cluster is unreachable: its API server did not answer"
UNUSABLE_CONFIG = "the portal's connection settings for this cluster are not usable"
CREDENTIALS_REJECTED = "the cluster rejected the portal's credentials (HTTP 401)"


def status_summary(status: int | None) -> str:
    """What an HTTP status means, in words safe for any page."""
    if status is None:
        return "timed out, or the connection was lost"
    words = {
        403: "forbidden: the portal's Kubernetes role does not allow it",
        404: "not found",
        409: "conflict: the object changed meanwhile",
        410: "the list expired before it was read",
        422: "refused as invalid",
        429: "the API server is overloaded",
    }
    if status in words:
        return f"{words[status]} (HTTP {status})"
    if status >= 500:
        return f"the API server failed (HTTP {status})"
    return f"the API server refused the request (HTTP {status})"


def _eks_token(cluster_name: str, region: str) -> str:
    """A bearer token for EKS: a presigned STS GetCallerIdentity URL, as aws-iam-authenticator makes."""
    import botocore.session
    from botocore.signers import RequestSigner

    session = botocore.session.get_session()
    sts = session.create_client("sts", region_name=region)
    signer = RequestSigner(
        sts.meta.service_model.service_id, region, "sts", "v4",
        session.get_credentials(), session.get_component("event_emitter"),
    )  # fmt: skip
    url = signer.generate_presigned_url(
        {
            "method": "GET",
            "url": f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster_name},
            "context": {},
        },
        region_name=region,
        expires_in=60,
        operation_name="",
    )
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _eks_configuration(cluster_name: str, region: str) -> k8s.Configuration:
    import botocore.session

    eks = botocore.session.get_session().create_client("eks", region_name=region)
    described = eks.describe_cluster(name=cluster_name)["cluster"]
    configuration = k8s.Configuration()
    configuration.host = described["endpoint"]
    ca_path = settings.VAR_DIR / f"eks-{cluster_name}-ca.crt"
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.write_bytes(base64.b64decode(described["certificateAuthority"]["data"]))
    configuration.ssl_ca_cert = str(ca_path)
    configuration.api_key = {"authorization": "Bearer " + _eks_token(cluster_name, region)}
    return configuration


def _kubeconfig(cluster) -> k8s.Configuration:
    configuration = k8s.Configuration()
    path = cluster.kubeconfig_path
    try:
        k8s_config.load_kube_config(
            config_file=path,
            context=cluster.context or None,
            client_configuration=configuration,
            persist_config=False,
        )
    except ConfigException as exc:
        raise ClusterUnreachable(
            UNUSABLE_CONFIG, detail=f"kubeconfig {path}: not a usable kubeconfig: {exc}"
        ) from exc
    except OSError as exc:
        raise ClusterUnreachable(
            UNUSABLE_CONFIG, detail=f"kubeconfig {path}: not a usable kubeconfig: {exc.strerror}"
        ) from exc
    except Exception as exc:
        # The client reads any YAML (or bytes) it is given and fails on the shape with whatever
        # error that causes. Only the error's type is kept: its text can quote the file, token and all.
        raise ClusterUnreachable(
            UNUSABLE_CONFIG, detail=f"kubeconfig {path}: not a usable kubeconfig ({type(exc).__name__})"
        ) from exc
    return configuration


def api_client(cluster, *, connections: int = 0) -> k8s.ApiClient:
    """A client for a Cluster row; raises ClusterUnreachable when it cannot be configured.

    `connections`: how many requests may be open at once (a watch session holds one per kind).
    """
    try:
        if cluster.connection == "kubeconfig":
            configuration = _kubeconfig(cluster)
        elif cluster.connection == "in_cluster":
            from kubernetes.config.incluster_config import InClusterConfigLoader

            configuration = k8s.Configuration()
            # The token is re-read when it rotates (projected tokens last an hour).
            InClusterConfigLoader(
                token_filename=settings.SHIRUBE_INCLUSTER_TOKEN_FILE,
                cert_filename=settings.SHIRUBE_INCLUSTER_CA_FILE,
            ).load_and_set(configuration)
        elif cluster.connection == "eks":
            configuration = _eks_configuration(cluster.eks_cluster_name, cluster.eks_region)
        else:
            raise ClusterUnreachable(
                UNUSABLE_CONFIG, detail=f"unknown connection type {cluster.connection!r}"
            )
    except (ConfigException, OSError) as exc:
        raise ClusterUnreachable(UNUSABLE_CONFIG, detail=f"cannot configure a client: {exc}") from exc
    except ClusterUnreachable:
        raise
    except Exception as exc:  # botocore errors have no common importable base here
        if type(exc).__module__.startswith("botocore"):
            raise ClusterUnreachable(
                "could not get credentials for the EKS cluster", detail=f"EKS: {exc}"
            ) from exc
        raise
    configuration.retries = 0
    if connections:
        configuration.connection_pool_maxsize = connections
    return k8s.ApiClient(configuration)


def _status_message(exc: ApiException) -> str:
    return _body_message(exc.body.encode() if isinstance(exc.body, str) else exc.body or b"", exc.reason)


def _get(api: k8s.ApiClient, path: str, query: list[tuple[str, str]]) -> dict:
    return _request(api, "GET", path, query=query)


def _request(
    api: k8s.ApiClient,
    method: str,
    path: str,
    *,
    query=None,
    body: dict | None = None,
    content_type: str = "",
) -> dict:
    """One API request; the raw body parsed with orjson (the client's models are skipped: too slow)."""
    timeout = (CONNECT_TIMEOUT, settings.SHIRUBE_SYNC_REQUEST_TIMEOUT)
    response = _send(api, method, path, query=query, body=body, content_type=content_type, timeout=timeout)
    try:
        raw = response.read()
    except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError) as exc:
        raise KubeError(status_summary(None), detail=f"timeout or connection lost: {_short(exc)}") from exc
    _check_status(response, raw)
    return _parse(raw)


def _send(
    api: k8s.ApiClient, method: str, path: str, *, query=None, body=None, content_type: str = "", timeout
):
    """Send a request; the response comes back unread. Failures are sorted into "this kind
    failed" (KubeError) and "the cluster is gone" (ClusterUnreachable)."""
    headers = {"Accept": "application/json", **({"Content-Type": content_type} if content_type else {})}
    try:
        serialized = api.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )  # fmt: skip
        return api.call_api(*serialized, _request_timeout=timeout)
    except ApiException as exc:
        if exc.status == 401:
            raise ClusterUnreachable(
                CREDENTIALS_REJECTED, detail=f"401 credentials rejected: {_status_message(exc)}"
            ) from exc
        raise KubeError(
            status_summary(exc.status), exc.status, detail=f"{exc.status} {_status_message(exc)}"
        ) from exc
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.MaxRetryError) as exc:
        # Retries are off, so MaxRetryError wraps the first failure. Not reaching
        # the server at all makes the cluster unreachable; a timeout or a
        # connection lost mid-answer is this kind's error.
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError)) and not (
            isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
        ):
            raise KubeError(
                status_summary(None), detail=f"timeout or connection lost: {_short(exc)}"
            ) from exc
        raise ClusterUnreachable(UNREACHABLE, detail=_short(exc)) from exc
    except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError) as exc:
        raise KubeError(status_summary(None), detail=f"timeout or connection lost: {_short(exc)}") from exc


def _check_status(response, raw: bytes) -> None:
    if response.status == 401:
        # Not one kind's problem: the credentials are wrong or expired for every request.
        raise ClusterUnreachable(
            CREDENTIALS_REJECTED, detail=f"401 credentials rejected: {_body_message(raw, response.reason)}"
        )
    if not 200 <= response.status <= 299:
        # A 410 on a watch: its resourceVersion is too old (a list's 410 is handled where it is read).
        error = WatchExpired if response.status == 410 else KubeError
        raise error(
            status_summary(response.status),
            response.status,
            detail=f"{response.status} {_body_message(raw, response.reason)}",
        )


def _parse(raw: bytes):
    """The answer's JSON. orjson refuses lone surrogate escapes and invalid UTF-8, which the real
    server never sends but a proxy or a broken server might; the standard parser takes both (the
    bytes decoded with replacement characters), and the reducers clean what it lets through, so one
    odd string costs its object at most, not its kind."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(raw.decode("utf-8", errors="replace"))
        except ValueError:
            raise KubeError(
                "the API server's answer was not JSON",
                detail=f"the API answered with something that is not JSON: {exc}",
            ) from exc


def _body_message(raw: bytes, reason: str | None) -> str:
    try:
        return orjson.loads(raw).get("message") or reason or ""
    except (orjson.JSONDecodeError, AttributeError):
        return (reason or "") + (f": {raw[:200]!r}" if raw else "")


def _short(exc: Exception) -> str:
    text = str(exc)
    text = re.sub(r"<urllib3\.[^>]*>", "", text)
    return text[:300]


def list_objects(api: k8s.ApiClient, spec: KindSpec, *, transform=None, page_size: int | None = None) -> list:
    """Every object of a kind, each passed through transform as its page arrives."""
    return list_snapshot(api, spec, transform=transform, page_size=page_size).items


@dataclass
class Listing:
    items: list
    resource_version: str  # the list's snapshot: a watch from here misses nothing


def list_snapshot(
    api: k8s.ApiClient, spec: KindSpec, *, transform=None, page_size: int | None = None
) -> Listing:
    """Every object of a kind and the resourceVersion of the snapshot they were read at.

    Reducing page by page keeps memory flat on large clusters. A 410 Gone on a
    continue token (the snapshot expired mid-list) restarts the list once.
    """
    page_size = page_size or settings.SHIRUBE_SYNC_PAGE_SIZE
    for attempt in (1, 2):
        token, result, version = "", [], ""
        try:
            while True:
                query = [("limit", str(page_size))]
                if token:
                    query.append(("continue", token))
                if spec.field_selector:
                    query.append(("fieldSelector", spec.field_selector))
                body = _get(api, spec.path, query)
                items = body.get("items") if isinstance(body, dict) else None
                meta = body.get("metadata") if isinstance(body, dict) else None
                if not isinstance(items or [], list) or not isinstance(meta or {}, dict):
                    raise KubeError(
                        "the API server's answer was not a list", detail=f"{spec.path}: not a list"
                    )
                for item in items or []:
                    if isinstance(item, dict):  # anything else is for the transform to refuse
                        item.setdefault("kind", spec.kind)
                    result.append(transform(item) if transform else item)
                token = (meta or {}).get("continue") or ""
                # Every page of one list carries the snapshot's version; the last one is kept.
                version = (meta or {}).get("resourceVersion") or version
                if not isinstance(token, str) or not isinstance(version, str):
                    raise KubeError(
                        "the API server's answer was not a list", detail=f"{spec.path}: bad continue"
                    )
                del body
                if not token:
                    return Listing(result, version)
        except KubeError as exc:
            if exc.status == 410 and token and attempt == 1:
                continue
            raise
    raise AssertionError("unreachable")


# What a watch yields besides objects: the server's "nothing changed up to here" mark.
BOOKMARK = "BOOKMARK"
WATCH_TYPES = ("ADDED", "MODIFIED", "DELETED", BOOKMARK)
# A watch line longer than this is not an object the portal could store (the API
# server's own limit for an object is 1.5 MiB in etcd); it costs its line, not the stream.
MAX_WATCH_LINE = 3 * 1024 * 1024


@dataclass
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK; "" for a line that was not an event
    object: object  # the object as sent (a dict for a well-formed event)
    resource_version: str  # "" when the line carried none
    problem: str = ""  # why a line was not an event (for SREs), when type is ""


def watch_objects(
    api: k8s.ApiClient,
    spec: KindSpec,
    *,
    resource_version: str,
    timeout_seconds: int,
    opened: Callable[[object], None] | None = None,
) -> Iterator[WatchEvent]:
    """The changes to a kind after `resource_version`, as they happen, until the server ends the watch.

    Bookmarks are asked for, so a quiet kind still moves its resourceVersion on and a
    resumed watch rarely starts from an expired one. A 410 Gone, whether it is the HTTP
    status or (as it usually is) an ERROR event inside the stream, raises WatchExpired;
    any other ERROR event or HTTP error is a KubeError, as for a list. A line that is not
    an event (not JSON, an unknown type, no object) is yielded with its problem, so one
    bad line costs itself only. `opened` receives the response, so that another thread
    can end a watch early (`watch_close`).
    """
    query = [
        ("watch", "1"),
        ("resourceVersion", resource_version),
        ("allowWatchBookmarks", "true"),
        ("timeoutSeconds", str(timeout_seconds)),
    ]
    if spec.field_selector:
        query.append(("fieldSelector", spec.field_selector))
    # The server ends the stream after timeoutSeconds; a read that waits much longer
    # than that (or than its bookmarks) is a lost connection.
    timeout = (CONNECT_TIMEOUT, timeout_seconds + settings.SHIRUBE_SYNC_REQUEST_TIMEOUT)
    response = _open(api, spec.path, query, timeout)
    if opened is not None:
        opened(response)
    try:
        for line in _lines(response):
            event = _watch_event(line)
            if event.type == "ERROR":
                _raise_watch_error(event.object, spec)
            yield event
    except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError, OSError) as exc:
        raise KubeError(status_summary(None), detail=f"watch {spec.path}: {_short(exc)}") from exc
    finally:
        watch_close(response)


def watch_close(response) -> None:
    """End a watch from any thread: its reader sees the stream end."""
    raw = getattr(response, "response", response)
    # Already closed, or a half-dead socket: nothing is left to end.
    with contextlib.suppress(Exception):
        raw.shutdown()  # unblocks a read waiting in another thread (urllib3 2.3+)
    with contextlib.suppress(Exception):
        raw.release_conn()


def _open(api: k8s.ApiClient, path: str, query: list, timeout) -> object:
    """A streaming GET: the response with its body unread, or the error its status says."""
    response = _send(api, "GET", path, query=query, timeout=timeout)
    if response.status != 200:
        _check_status(response, response.read())
    return response


def _lines(response) -> Iterator[bytes]:
    """The stream's lines as their bytes arrive (a chunk can hold many lines, or part of one)."""
    pending = b""
    for chunk in response.response.stream(65536, decode_content=True):
        pending += chunk
        if b"\n" not in chunk:
            if len(pending) > MAX_WATCH_LINE:
                raise KubeError(
                    "the API server sent an event too large to read",
                    detail=f"a watch line over {MAX_WATCH_LINE} bytes",
                )
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _watch_event(line: bytes) -> WatchEvent:
    try:
        data = _parse(line)
    except KubeError as exc:
        return WatchEvent("", None, "", problem=exc.detail[:200])
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return WatchEvent("", None, "", problem="a watch line without an object")
    type_, obj = data.get("type"), data["object"]
    if type_ == "ERROR":
        return WatchEvent("ERROR", obj, "")
    if type_ not in WATCH_TYPES:
        return WatchEvent("", obj, "", problem=f"an unknown watch event type {str(type_)[:40]!r}")
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return WatchEvent(type_, obj, version if isinstance(version, str) else "")


def _raise_watch_error(status: dict, spec: KindSpec) -> None:
    code = status.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = status.get("message") if isinstance(status.get("message"), str) else ""
    error = WatchExpired if code == 410 else KubeError
    raise error(status_summary(code), code, detail=f"watch {spec.path}: {code} {message[:300]}")


def discover_flux(api: k8s.ApiClient) -> list[KindSpec]:
    """The Flux kinds this cluster serves, each at its most preferred served version."""
    try:
        return _discover_flux(api)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise KubeError(
            "the API server's discovery answer was malformed",
            detail=f"discovery: {type(exc).__name__}: {exc}",
        ) from exc


def _discover_flux(api: k8s.ApiClient) -> list[KindSpec]:
    groups = {g["name"]: g for g in _get(api, "/apis", []).get("groups") or []}
    specs: list[KindSpec] = []
    for group, kinds in FLUX_KINDS.items():
        if group not in groups:
            continue
        versions = [v["version"] for v in groups[group].get("versions") or []]
        preferred = (groups[group].get("preferredVersion") or {}).get("version")
        if preferred in versions:
            versions.remove(preferred)
            versions.insert(0, preferred)
        found: dict[str, KindSpec] = {}
        for version in versions:
            if not _PATH_WORD.fullmatch(str(version)):
                continue
            resources = _get(api, f"/apis/{group}/{version}", []).get("resources") or []
            for resource in resources:
                kind, plural = resource.get("kind"), resource.get("name", "")
                if kind in kinds and _PATH_WORD.fullmatch(str(plural)) and kind not in found:
                    found[kind] = KindSpec(plural, kind, group, version, plural)
        specs.extend(found[kind] for kind in kinds if kind in found)
    return specs


# What a version or a resource's plural may be before it goes into a URL path
# (subresources such as "kustomizations/status" are not kinds).
_PATH_WORD = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")


FLUX_PLURALS = {
    "GitRepository": "gitrepositories", "OCIRepository": "ocirepositories",
    "HelmRepository": "helmrepositories", "HelmChart": "helmcharts", "Kustomization": "kustomizations",
    "HelmRelease": "helmreleases", "ImageRepository": "imagerepositories", "ImagePolicy": "imagepolicies",
    "ImageUpdateAutomation": "imageupdateautomations",
}  # fmt: skip


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The URL path of one namespaced custom object (Flux kinds)."""
    if kind not in FLUX_PLURALS or "/" not in api_version:
        raise ValueError(f"not a Flux kind: {api_version} {kind}")
    return f"/apis/{api_version}/namespaces/{namespace}/{FLUX_PLURALS[kind]}/{name}"


def merge_patch(api: k8s.ApiClient, path: str, patch: dict) -> dict:
    """An RFC 7386 merge patch; returns the object as the server stored it."""
    return _request(api, "PATCH", path, body=patch, content_type="application/merge-patch+json")


def get_object(api: k8s.ApiClient, path: str) -> dict:
    return _request(api, "GET", path)

"""Reduce raw Kubernetes objects to what the portal shows or checks.

Only these functions see the API's JSON. They keep names, states and shapes;
they drop environment-variable values (except an allow-list), every annotation
not on the allow-list (kubectl's last-applied-configuration holds env values),
and everything else the portal does not use. Commands, URLs and messages pass
through `redact` before anything is kept, so credentials never reach the database.

Every value is read through a typed helper. A string is cleaned of what
PostgreSQL cannot store (NUL bytes, lone surrogates); an explicit null reads as
absent, as Kubernetes itself reads it; any other wrong type, or an object
without a usable name or uid, raises Malformed, and the sync skips that one
object instead of failing its whole kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from apps.clusters.redact import DATADOG_PREFIX, datadog_annotation, redact

INT64 = 2**63


class Malformed(ValueError):
    """An object the portal cannot store as it came: skipped and counted, never its whole kind."""


def _type(value: object) -> str:
    """The JSON type of a value, with its article, for a message: "an object", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def clean_text(value: str) -> str:
    """The string without what PostgreSQL cannot store: NUL bytes (dropped), lone surrogates (U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


# The typed reads run a few hundred thousand times in a large sync: each takes the common
# case (the right type, plain text) first, in as few steps as Python allows.


def _text(value: object, what: str, limit: int | None = None) -> str:
    """A string field; null reads as absent (""), any other type is malformed."""
    if value.__class__ is not str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise Malformed(f"{what} is {_type(value)}, not a string")
    if "\x00" in value or not value.isascii():
        value = clean_text(value)
    return value if limit is None else value[:limit]


def _int(value: object, what: str, default: int | None = None) -> int | None:
    """An integer field; null reads as absent (the default); text, fractions or huge numbers are malformed."""
    if value.__class__ is int and -INT64 <= value < INT64:
        return value
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{what} is {_type(value)}, not an integer")
    raise Malformed(f"{what} is out of range")


def _int_or_text(value: object, what: str, limit: int) -> str:
    """An IntOrString (minAvailable: 2 or "50%"), kept as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_int(value, what))
    return _text(value, what, limit)


def _obj(value: object, what: str) -> dict:
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{what} is {_type(value)}, not an object")
    return value


def _list(value: object, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is {_type(value)}, not a list")
    return value


def _objs(value: object, what: str) -> list[dict]:
    """A list of objects; a null or wrong-typed item is malformed (there is no absent item)."""
    items = _list(value, what)
    for item in items:
        if not isinstance(item, dict):
            raise Malformed(f"an item of {what} is {_type(item)}, not an object")
    return items


def _texts(value: object, what: str, limit: int | None = None) -> list[str]:
    out = []
    for item in _list(value, what):
        if not isinstance(item, str):
            raise Malformed(f"an item of {what} is {_type(item)}, not a string")
        out.append(_text(item, what, limit))
    return out


def _text_map(value: object, what: str) -> dict[str, str]:
    """Labels and the like: string keys to string values (null reads as "")."""
    mapping = _obj(value, what)
    for key, item in mapping.items():
        if item.__class__ is not str or not (key.isascii() and item.isascii()) or "\x00" in key + item:
            return {clean_text(k): _text(v, f"{what}[{k!r}]") for k, v in mapping.items()}
    return dict(mapping)  # the common case: plain text throughout


def _json(value: object, what: str, depth: int = 0) -> Any:
    """A raw JSON subtree kept as it is (a selector), with its strings cleaned and its numbers in range."""
    if depth > 20:
        raise Malformed(f"{what} is nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _json(v, what, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v, what, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return _int(value, what)
    return value  # bool, float, None


def _time(value: object, what: str) -> datetime | None:
    text = _text(value, what)
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise Malformed(f"{what} is not a time: {text[:40]!r}")
    return parsed


def _redacted(text: str, limit: int) -> str:
    """Text with its credentials redacted, then cut to length.

    Redacting first matters (a cut can leave half a password no rule recognises);
    the text is still cut to a little more than it keeps before redacting, so a
    megabyte from a hostile cluster costs the regexes no more than a message does.
    """
    return redact(text[: limit + 256])[:limit]


def _command(value: object, what: str) -> str:
    """An exec command as one line, credentials redacted before it is cut to length."""
    return _redacted(" ".join(_texts(value, what)), 200)


def _name(value: object, what: str, limit: int) -> str:
    """A name the portal keys rows and URLs on: what the API server allows in a path segment."""
    if value is None or value == "":
        raise Malformed(f"{what} is missing")
    if not isinstance(value, str):
        raise Malformed(f"{what} is {_type(value)}, not a string")
    if len(value) > limit or value in (".", "..") or "/" in value or "%" in value or not value.isprintable():
        raise Malformed(f"{what} {value[:80]!r} is not a valid name")  # repr shows a NUL as \\x00
    return value


def allowed_annotations(annotations: object) -> dict[str, str]:
    """Allow-listed annotations only, values redacted; Datadog ones cut down to what checks need."""
    if not annotations:
        return {}
    keys = settings.SHIRUBE_ANNOTATION_ALLOWLIST
    wanted = {}
    for key, value in _obj(annotations, "metadata.annotations").items():
        if key == "kubectl.kubernetes.io/last-applied-configuration":
            continue
        if any(key == allowed or (allowed.endswith("/") and key.startswith(allowed))
               for allowed in keys):  # fmt: skip
            wanted[key] = value
    kept = {}
    for key, value in _text_map(wanted, "metadata.annotations").items():
        if key.startswith(DATADOG_PREFIX):
            value = datadog_annotation(key, value)
            if value is None:
                continue
        kept[key] = _redacted(value, 2000)
    return kept


def _owner_ref(ref: dict) -> dict:
    what = "metadata.ownerReferences"
    return {
        "kind": _text(ref.get("kind"), what, 40),
        "name": _text(ref.get("name"), what, 253),
        "uid": _text(ref.get("uid"), what, 64),
    }


def _controller(meta: dict) -> dict:
    refs = _objs(meta.get("ownerReferences"), "metadata.ownerReferences")
    for ref in refs:
        if ref.get("controller"):
            return _owner_ref(ref)
    return _owner_ref(refs[0]) if refs else {}


def _meta(obj: dict) -> dict:
    return _obj(obj.get("metadata"), "metadata")


def base(obj: dict) -> dict[str, Any]:
    meta = _meta(obj)
    namespace = meta.get("namespace")
    return {
        "namespace": _name(namespace, "metadata.namespace", 63) if namespace else "",
        "name": _name(meta.get("name"), "metadata.name", 253),
        "uid": _name(meta.get("uid"), "metadata.uid", 64),
        "resource_version": _text(meta.get("resourceVersion"), "metadata.resourceVersion", 32),
        "labels": _text_map(meta.get("labels"), "metadata.labels"),
        "annotations": allowed_annotations(meta.get("annotations")),
        "created": _time(meta.get("creationTimestamp"), "metadata.creationTimestamp"),
    }


def _port(value: object, what: str) -> str:
    return _int_or_text(value, what, 63)


def _http_path(handler: dict, what: str) -> str:
    return _redacted(_text(handler.get("path"), what) or "/", 200)


def _probe(probe: object, what: str) -> dict | None:
    probe = _obj(probe, what)
    if not probe:
        return None
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        if kind in probe:
            handler = _obj(probe[kind], f"{what}.{kind}")
            if kind == "httpGet":
                detail = f"{_http_path(handler, what)}:{_port(handler.get('port'), what)}"
            elif kind == "exec":
                detail = _command(handler.get("command"), f"{what}.exec.command")
            else:
                detail = _port(handler.get("port"), what)
            break
    else:
        kind, detail = "unknown", ""
    return {
        "type": kind,
        "detail": detail,
        "initialDelaySeconds": _int(probe.get("initialDelaySeconds"), what, 0),
        "periodSeconds": _int(probe.get("periodSeconds"), what, 10),
        "timeoutSeconds": _int(probe.get("timeoutSeconds"), what, 1),
        "failureThreshold": _int(probe.get("failureThreshold"), what, 3),
    }


def _pre_stop(container: dict) -> dict | None:
    what = "lifecycle.preStop"
    hook = _obj(_obj(container.get("lifecycle"), "lifecycle").get("preStop"), what)
    if not hook:
        return None
    if "sleep" in hook:
        return {"type": "sleep", "seconds": _int(_obj(hook["sleep"], what).get("seconds"), what)}
    if "exec" in hook:
        return {"type": "exec", "command": _command(_obj(hook["exec"], what).get("command"), what)}
    if "httpGet" in hook:
        return {"type": "httpGet", "path": _http_path(_obj(hook["httpGet"], what), what)}
    return {"type": "unknown"}


def _env(container: dict) -> list[dict]:
    """Names only; a value only for names on the allow-list."""
    allow = settings.SHIRUBE_ENV_VALUE_ALLOWLIST
    env = []
    for var in _objs(container.get("env"), "env"):
        name = _text(var.get("name"), "env.name", 253)
        item = {"name": name}
        if var.get("valueFrom") is not None:
            source = next(iter(_obj(var["valueFrom"], "env.valueFrom")), "")
            item["from"] = clean_text(source)[:40]  # e.g. secretKeyRef: the kind of source, never its value
        elif name in allow and isinstance(var.get("value"), str):
            item["value"] = _text(var["value"], "env.value", 200)
        env.append(item)
    return env


def _quantities(value: object, what: str) -> dict[str, str]:
    """Resource quantities: the API server sends strings; a client may have written numbers."""
    out = {}
    for key, quantity in _obj(value, what).items():
        if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
            quantity = str(quantity)
        out[clean_text(key)] = _text(quantity, what, 40)
    return out


def container(c: dict) -> dict:
    resources = _obj(c.get("resources"), "resources")
    return {
        "name": _text(c.get("name"), "container name", 253),
        "image": _text(c.get("image"), "container image", 1000),
        "ports": [
            {
                "containerPort": _int(p.get("containerPort"), "ports.containerPort"),
                "name": _text(p.get("name"), "ports.name", 63),
                "protocol": _text(p.get("protocol"), "ports.protocol", 10) or "TCP",
            }
            for p in _objs(c.get("ports"), "ports")
        ],  # fmt: skip
        "readinessProbe": _probe(c.get("readinessProbe"), "readinessProbe"),
        "livenessProbe": _probe(c.get("livenessProbe"), "livenessProbe"),
        "startupProbe": _probe(c.get("startupProbe"), "startupProbe"),
        "preStop": _pre_stop(c),
        "resources": {
            "requests": _quantities(resources.get("requests"), "resources.requests"),
            "limits": _quantities(resources.get("limits"), "resources.limits"),
        },
        "env": _env(c),
        "envFrom": [clean_text(next(iter(e), ""))[:40] for e in _objs(c.get("envFrom"), "envFrom")],
    }


def pod_template(spec: dict) -> dict:
    return {
        "containers": [container(c) for c in _objs(spec.get("containers"), "spec.containers")],
        "initContainers": [container(c) for c in _objs(spec.get("initContainers"), "spec.initContainers")],
        "terminationGracePeriodSeconds": _int(
            spec.get("terminationGracePeriodSeconds"), "spec.terminationGracePeriodSeconds", 30
        ),
        "serviceAccountName": _text(spec.get("serviceAccountName"), "spec.serviceAccountName", 253)
        or "default",
    }


def namespace(obj: dict) -> dict:
    return {**base(obj), "phase": _text(_obj(obj.get("status"), "status").get("phase"), "status.phase", 20)}


def _conditions(status: dict, *, message_limit: int | None = None) -> list[dict]:
    out = []
    for c in _objs(status.get("conditions"), "status.conditions"):
        condition = {
            "type": _text(c.get("type"), "condition type", 100),
            "status": _text(c.get("status"), "condition status", 20),
            "reason": _text(c.get("reason"), "condition reason", 100),
        }
        if message_limit is not None:
            condition["message"] = _redacted(_text(c.get("message"), "condition message"), message_limit)
        out.append(condition)
    return out


def workload(obj: dict) -> dict:
    kind = _text(obj.get("kind"), "kind", 20)
    spec, status = _obj(obj.get("spec"), "spec"), _obj(obj.get("status"), "status")
    meta = _meta(obj)
    row = {
        **base(obj),
        "kind": kind,
        "owner": _controller(meta),
        "generation": _int(meta.get("generation"), "metadata.generation"),
        "observed_generation": _int(status.get("observedGeneration"), "status.observedGeneration"),
        "details": {},
    }
    template = _obj(spec.get("template"), "spec.template")
    if kind == "CronJob":
        job_spec = _obj(
            _obj(spec.get("jobTemplate"), "spec.jobTemplate").get("spec"), "spec.jobTemplate.spec"
        )
        template = _obj(job_spec.get("template"), "spec.jobTemplate.spec.template")
    template_spec = _obj(template.get("spec"), "template spec")
    template_meta = _obj(template.get("metadata"), "template metadata")
    if kind == "CronJob":
        row["details"] = {
            "schedule": _text(spec.get("schedule"), "spec.schedule", 100),
            "suspend": bool(spec.get("suspend")),
            "lastScheduleTime": _text(status.get("lastScheduleTime"), "status.lastScheduleTime", 64) or None,
            "active": len(_list(status.get("active"), "status.active")),
        }
    row["template"] = pod_template(template_spec)
    # The pod template's labels (what a PodDisruptionBudget selects) and allow-listed
    # annotations (Prometheus and Datadog scrape settings live there, not on the workload).
    row["template"]["metadata"] = {
        "labels": _text_map(template_meta.get("labels"), "template labels"),
        "annotations": allowed_annotations(template_meta.get("annotations")),
    }

    def count(source: dict, key: str, default: int | None = 0) -> int | None:
        return _int(source.get(key), key, default)

    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        row.update(
            desired=count(spec, "replicas", 1),
            ready=count(status, "readyReplicas"),
            updated=count(status, "updatedReplicas", 0 if kind != "ReplicaSet" else None),
            available=count(status, "availableReplicas"),
        )
    elif kind == "DaemonSet":
        row.update(
            desired=count(status, "desiredNumberScheduled"),
            ready=count(status, "numberReady"),
            updated=count(status, "updatedNumberScheduled"),
            available=count(status, "numberAvailable"),
        )
    elif kind == "Job":
        row.update(
            desired=count(spec, "completions", 1),
            ready=count(status, "succeeded"),
            available=count(status, "active"),
            updated=None,
        )
        row["details"] = {"failed": count(status, "failed"), "conditions": _conditions(status)}
    else:
        row.update(desired=None, ready=None, updated=None, available=None)
    if kind == "Deployment":
        row["details"] = {
            "strategy": _text(_obj(spec.get("strategy"), "spec.strategy").get("type"), "strategy", 40)
            or "RollingUpdate",
            "conditions": _conditions(status, message_limit=300),
        }
    return row


def _container_state(status: dict) -> tuple[str, str, str]:
    """(state, reason, message) of one container status."""
    state = _obj(status.get("state"), "containerStatuses.state")
    for name in ("waiting", "terminated"):
        if name in state:
            detail = _obj(state[name], f"state.{name}")
            reason = _text(detail.get("reason"), "state reason", 100)
            return name, reason, _redacted(_text(detail.get("message"), "state message"), 1000)
    return "running", "", ""


def pod(obj: dict) -> dict:
    spec, status = _obj(obj.get("spec"), "spec"), _obj(obj.get("status"), "status")
    meta = _meta(obj)
    statuses = _objs(status.get("containerStatuses"), "status.containerStatuses")
    reason = _text(status.get("reason"), "status.reason")
    message = _redacted(_text(status.get("message"), "status.message"), 1000)
    last_reason, last_exit, last_finished = "", None, None
    containers_state = {}
    restarts = ready = 0
    for cs in statuses:
        state, c_reason, c_message = _container_state(cs)
        last = _obj(_obj(cs.get("lastState"), "lastState").get("terminated"), "lastState.terminated")
        cs_restarts = _int(cs.get("restartCount"), "restartCount", 0)
        cs_ready = bool(cs.get("ready"))
        restarts, ready = restarts + cs_restarts, ready + cs_ready
        last_termination = None
        if last:
            last_termination = {
                "reason": _text(last.get("reason"), "lastState reason", 100),
                "exitCode": _int(last.get("exitCode"), "lastState.exitCode"),
                "finishedAt": _text(last.get("finishedAt"), "lastState.finishedAt", 64) or None,
            }
        containers_state[_text(cs.get("name"), "containerStatuses.name", 253)] = {
            "state": state,
            "reason": c_reason,
            "message": c_message[:500],
            "ready": cs_ready,
            "restarts": cs_restarts,
            "image": _text(cs.get("image"), "containerStatuses.image", 1000),
            "lastTermination": last_termination,
        }
        if c_reason and not reason:
            reason, message = c_reason, c_message
        if last_termination and (
            last_finished is None or (last_termination["finishedAt"] or "") > (last_finished or "")
        ):
            last_reason, last_exit = last_termination["reason"], last_termination["exitCode"]
            last_finished = last_termination["finishedAt"]
    if not reason and status.get("phase") == "Pending":
        for condition in _objs(status.get("conditions"), "status.conditions"):
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reason = _text(condition.get("reason"), "condition reason") or "Unschedulable"
                message = _redacted(_text(condition.get("message"), "condition message"), 1000)
    template = pod_template(spec)
    for c in template["containers"]:
        c["status"] = containers_state.get(c["name"])
    return {
        **base(obj),
        "phase": _text(status.get("phase"), "status.phase", 20),
        "ready_containers": ready,
        "total_containers": len(template["containers"]),
        "restarts": restarts,
        "reason": reason[:100],
        "message": message[:1000],
        "last_termination_reason": last_reason[:100],
        "last_exit_code": last_exit,
        "last_finished_at": _time(last_finished, "lastState.finishedAt"),
        "node": _text(spec.get("nodeName"), "spec.nodeName", 253),
        "images": [c["image"] for c in template["containers"]],
        "owner": _controller(meta),
        "service_account": template["serviceAccountName"],
        "started_at": _time(status.get("startTime"), "status.startTime"),
        "spec": template,
    }


def service_account(obj: dict) -> dict:
    return base(obj)


def pdb(obj: dict) -> dict:
    spec, status = _obj(obj.get("spec"), "spec"), _obj(obj.get("status"), "status")
    return {
        **base(obj),
        "selector": _json(_obj(spec.get("selector"), "spec.selector"), "spec.selector"),
        "min_available": _int_or_text(spec.get("minAvailable"), "spec.minAvailable", 20),
        "max_unavailable": _int_or_text(spec.get("maxUnavailable"), "spec.maxUnavailable", 20),
        "current_healthy": _int(status.get("currentHealthy"), "status.currentHealthy"),
        "desired_healthy": _int(status.get("desiredHealthy"), "status.desiredHealthy"),
        "disruptions_allowed": _int(status.get("disruptionsAllowed"), "status.disruptionsAllowed"),
    }


def warning_event(obj: dict) -> dict:
    involved = _obj(obj.get("involvedObject") or obj.get("regarding"), "involvedObject")
    series = _obj(obj.get("series"), "series")
    last = obj.get("lastTimestamp") or obj.get("eventTime") or series.get("lastObservedTime") or (
        _meta(obj).get("creationTimestamp")
    )  # fmt: skip
    row = base(obj)
    row["labels"] = {}
    return {
        **row,
        "reason": _text(obj.get("reason"), "reason", 100),
        "message": _redacted(_text(obj.get("message") or obj.get("note"), "message"), 1000),
        "involved_kind": _text(involved.get("kind"), "involvedObject.kind", 40),
        "involved_name": _text(involved.get("name"), "involvedObject.name", 253),
        "involved_uid": _text(involved.get("uid"), "involvedObject.uid", 64),
        "count": _int(obj.get("count"), "count") or _int(series.get("count"), "series.count") or 1,
        "last_seen": _time(last, "lastTimestamp"),
    }


def _condition(conditions: list[dict], type_: str) -> dict:
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return {}


def _short_condition(condition: dict) -> dict | None:
    if not condition:
        return None
    return {
        "status": _text(condition.get("status"), "condition status", 20),
        "reason": _text(condition.get("reason"), "condition reason", 100),
        "message": _redacted(_text(condition.get("message"), "condition message"), 500),
    }


def _url(value: object, what: str) -> str:
    return _redacted(_text(value, what), 1000)


def flux_object(obj: dict) -> dict:
    """A Flux object: readiness, suspension, source, revisions, and what each kind adds."""
    kind = _text(obj.get("kind"), "kind", 40)
    spec, status = _obj(obj.get("spec"), "spec"), _obj(obj.get("status"), "status")
    meta = _meta(obj)
    conditions = _objs(status.get("conditions"), "status.conditions")
    ready = _condition(conditions, "Ready")
    source = _obj(spec.get("sourceRef"), "spec.sourceRef")
    chart_spec = _obj(_obj(spec.get("chart"), "spec.chart").get("spec"), "spec.chart.spec")
    if kind == "HelmRelease":
        source = _obj(chart_spec.get("sourceRef") or spec.get("chartRef"), "spec.chart.spec.sourceRef")
    details: dict = {}
    if kind == "HelmRelease":
        history = _objs(status.get("history"), "status.history")
        newest = history[0] if history else {}
        details = {
            "chart": _text(chart_spec.get("chart"), "spec.chart.spec.chart", 253),
            "history": {
                "chartName": _text(newest.get("chartName"), "history.chartName", 253),
                "chartVersion": _text(newest.get("chartVersion"), "history.chartVersion", 100),
                "appVersion": _text(newest.get("appVersion"), "history.appVersion", 100),
                "status": _text(newest.get("status"), "history.status", 40),
                "version": _int(newest.get("version"), "history.version"),
            }
            if newest
            else None,
            "released": _short_condition(_condition(conditions, "Released")),
            "remediated": _short_condition(_condition(conditions, "Remediated")),
            "failures": _int(status.get("failures"), "status.failures")
            or _int(status.get("upgradeFailures"), "status.upgradeFailures")
            or 0,
        }
    elif kind == "ImagePolicy":
        latest = _obj(status.get("latestRef"), "status.latestRef")
        image = _text(latest.get("name"), "latestRef.name", 1000)
        tag = _text(latest.get("tag"), "latestRef.tag", 200)
        latest_image = _text(status.get("latestImage"), "status.latestImage", 1000)
        if not latest and latest_image:
            image, _, tag = latest_image.rpartition(":")
        details = {"image": image, "tag": tag, "digest": _text(latest.get("digest"), "latestRef.digest", 200)}
    elif kind == "ImageRepository":
        scan = _obj(status.get("lastScanResult"), "status.lastScanResult")
        details = {
            "image": _text(spec.get("image"), "spec.image", 1000),
            "scanTime": _text(scan.get("scanTime"), "lastScanResult.scanTime", 64),
            "tagCount": _int(scan.get("tagCount"), "lastScanResult.tagCount"),
            "latestTags": _texts(scan.get("latestTags"), "lastScanResult.latestTags", 200)[:10],
        }
    elif kind == "ImageUpdateAutomation":
        details = {
            "lastAutomationRunTime": _text(status.get("lastAutomationRunTime"), "lastAutomationRunTime", 64),
            "lastPushCommit": _text(status.get("lastPushCommit"), "lastPushCommit", 100),
            "lastPushTime": _text(status.get("lastPushTime"), "lastPushTime", 64),
        }
    elif kind in ("GitRepository", "OCIRepository"):
        ref = _text_map(spec.get("ref"), "spec.ref")
        details = {"url": _url(spec.get("url"), "spec.url"), "ref": {k: v[:200] for k, v in ref.items()}}
    elif kind == "HelmRepository":
        details = {"url": _url(spec.get("url"), "spec.url"), "type": _text(spec.get("type"), "spec.type", 20)}
    details["readySince"] = _text(ready.get("lastTransitionTime"), "Ready lastTransitionTime", 64)
    return {
        **base(obj),
        "kind": kind,
        "api_version": _text(obj.get("apiVersion"), "apiVersion", 100),
        "ready_status": _text(ready.get("status"), "Ready status", 10),
        "ready_reason": _text(ready.get("reason"), "Ready reason", 100),
        "ready_message": _redacted(_text(ready.get("message"), "Ready message"), 2000),
        "suspended": bool(spec.get("suspend")),
        "interval": _text(spec.get("interval"), "spec.interval", 20),
        "source_ref": {
            "kind": _text(source.get("kind"), "sourceRef.kind", 40),
            "name": _text(source.get("name"), "sourceRef.name", 253),
            "namespace": _text(source.get("namespace"), "sourceRef.namespace", 63)
            or _text(meta.get("namespace"), "metadata.namespace", 63),
        }
        if source
        else {},
        "target_namespace": _text(spec.get("targetNamespace"), "spec.targetNamespace", 63),
        "path": _text(spec.get("path"), "spec.path", 500),
        "last_handled_reconcile_at": _text(
            status.get("lastHandledReconcileAt"), "lastHandledReconcileAt", 64
        ),
        "generation": _int(meta.get("generation"), "metadata.generation"),
        "observed_generation": _int(status.get("observedGeneration"), "status.observedGeneration"),
        "last_applied_revision": _text(status.get("lastAppliedRevision"), "lastAppliedRevision", 200),
        "last_attempted_revision": _text(status.get("lastAttemptedRevision"), "lastAttemptedRevision", 200),
        "artifact_revision": _text(
            _obj(status.get("artifact"), "status.artifact").get("revision"), "artifact.revision", 200
        ),
        "details": details,
    }

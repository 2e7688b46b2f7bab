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

from typing import Any

from django.conf import settings

from apps.clusters.objects import condition, image_parse
from apps.clusters.redact import DATADOG_PREFIX, datadog_annotation, redact
from apps.clusters.typed_reads import (
    clean_text,
    read_int,
    read_int_or_text,
    read_json,
    read_list,
    read_name,
    read_obj,
    read_objs,
    read_text,
    read_text_map,
    read_texts,
    read_time,
)


def _redacted(text: str, limit: int) -> str:
    """Text with its credentials redacted, then cut to length.

    Redacting first matters (a cut can leave half a password no rule recognises);
    the text is still cut to a little more than it keeps before redacting, so a
    megabyte from a hostile cluster costs the regexes no more than a message does.
    """
    return redact(text[: limit + 256])[:limit]


def _command(value: object, what: str) -> str:
    """An exec command as one line, credentials redacted before it is cut to length."""
    return _redacted(" ".join(read_texts(value, what)), 200)


def allowed_annotations(annotations: object) -> dict[str, str]:
    """Allow-listed annotations only, values redacted; Datadog ones cut down to what checks need."""
    if not annotations:
        return {}
    keys = settings.SHIRUBE_ANNOTATION_ALLOWLIST
    wanted = {}
    for key, value in read_obj(annotations, "metadata.annotations").items():
        if key == "kubectl.kubernetes.io/last-applied-configuration":
            continue
        if any(key == allowed or (allowed.endswith("/") and key.startswith(allowed))
               for allowed in keys):  # fmt: skip
            wanted[key] = value
    kept = {}
    for key, value in read_text_map(wanted, "metadata.annotations").items():
        if key.startswith(DATADOG_PREFIX):
            value = datadog_annotation(key, value)
            if value is None:
                continue
        kept[key] = _redacted(value, 2000)
    return kept


def _owner_ref(ref: dict) -> dict:
    what = "metadata.ownerReferences"
    return {
        "kind": read_text(ref.get("kind"), what, 40),
        "name": read_text(ref.get("name"), what, 253),
        "uid": read_text(ref.get("uid"), what, 64),
    }


def _controller(meta: dict) -> dict:
    refs = read_objs(meta.get("ownerReferences"), "metadata.ownerReferences")
    for ref in refs:
        if ref.get("controller"):
            return _owner_ref(ref)
    return _owner_ref(refs[0]) if refs else {}


def _meta(obj: dict) -> dict:
    return read_obj(obj.get("metadata"), "metadata")


def base(obj: dict) -> dict[str, Any]:
    meta = _meta(obj)
    namespace = meta.get("namespace")
    return {
        "namespace": read_name(namespace, "metadata.namespace", 63) if namespace else "",
        "name": read_name(meta.get("name"), "metadata.name", 253),
        "uid": read_name(meta.get("uid"), "metadata.uid", 64),
        "resource_version": read_text(meta.get("resourceVersion"), "metadata.resourceVersion", 32),
        "labels": read_text_map(meta.get("labels"), "metadata.labels"),
        "annotations": allowed_annotations(meta.get("annotations")),
        "created": read_time(meta.get("creationTimestamp"), "metadata.creationTimestamp"),
    }


def _port(value: object, what: str) -> str:
    return read_int_or_text(value, what, 63)


def _http_path(handler: dict, what: str) -> str:
    return _redacted(read_text(handler.get("path"), what) or "/", 200)


def _probe(probe: object, what: str) -> dict | None:
    probe = read_obj(probe, what)
    if not probe:
        return None
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        if kind in probe:
            handler = read_obj(probe[kind], f"{what}.{kind}")
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
        "initialDelaySeconds": read_int(probe.get("initialDelaySeconds"), what, 0),
        "periodSeconds": read_int(probe.get("periodSeconds"), what, 10),
        "timeoutSeconds": read_int(probe.get("timeoutSeconds"), what, 1),
        "failureThreshold": read_int(probe.get("failureThreshold"), what, 3),
    }


def _pre_stop(container: dict) -> dict | None:
    what = "lifecycle.preStop"
    hook = read_obj(read_obj(container.get("lifecycle"), "lifecycle").get("preStop"), what)
    if not hook:
        return None
    if "sleep" in hook:
        return {"type": "sleep", "seconds": read_int(read_obj(hook["sleep"], what).get("seconds"), what)}
    if "exec" in hook:
        return {"type": "exec", "command": _command(read_obj(hook["exec"], what).get("command"), what)}
    if "httpGet" in hook:
        return {"type": "httpGet", "path": _http_path(read_obj(hook["httpGet"], what), what)}
    return {"type": "unknown"}


def _env(container: dict) -> list[dict]:
    """Names only; a value only for names on the allow-list."""
    allow = settings.SHIRUBE_ENV_VALUE_ALLOWLIST
    env = []
    for var in read_objs(container.get("env"), "env"):
        name = read_text(var.get("name"), "env.name", 253)
        item = {"name": name}
        if var.get("valueFrom") is not None:
            source = next(iter(read_obj(var["valueFrom"], "env.valueFrom")), "")
            item["from"] = clean_text(source)[:40]  # e.g. secretKeyRef: the kind of source, never its value
        elif name in allow and isinstance(var.get("value"), str):
            item["value"] = read_text(var["value"], "env.value", 200)
        env.append(item)
    return env


def _quantities(value: object, what: str) -> dict[str, str]:
    """Resource quantities: the API server sends strings; a client may have written numbers."""
    out = {}
    for key, quantity in read_obj(value, what).items():
        if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
            quantity = str(quantity)
        out[clean_text(key)] = read_text(quantity, what, 40)
    return out


def container(c: dict) -> dict:
    resources = read_obj(c.get("resources"), "resources")
    return {
        "name": read_text(c.get("name"), "container name", 253),
        "image": read_text(c.get("image"), "container image", 1000),
        "ports": [
            {
                "containerPort": read_int(p.get("containerPort"), "ports.containerPort"),
                "name": read_text(p.get("name"), "ports.name", 63),
                "protocol": read_text(p.get("protocol"), "ports.protocol", 10) or "TCP",
            }
            for p in read_objs(c.get("ports"), "ports")
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
        "envFrom": [clean_text(next(iter(e), ""))[:40] for e in read_objs(c.get("envFrom"), "envFrom")],
    }


def pod_template(spec: dict) -> dict:
    return {
        "containers": [container(c) for c in read_objs(spec.get("containers"), "spec.containers")],
        "initContainers": [
            container(c) for c in read_objs(spec.get("initContainers"), "spec.initContainers")
        ],
        "terminationGracePeriodSeconds": read_int(
            spec.get("terminationGracePeriodSeconds"), "spec.terminationGracePeriodSeconds", 30
        ),
        "serviceAccountName": read_text(spec.get("serviceAccountName"), "spec.serviceAccountName", 253)
        or "default",
    }


def namespace(obj: dict) -> dict:
    return {
        **base(obj),
        "phase": read_text(read_obj(obj.get("status"), "status").get("phase"), "status.phase", 20),
    }


def _conditions(status: dict, *, message_limit: int | None = None) -> list[dict]:
    out = []
    for c in read_objs(status.get("conditions"), "status.conditions"):
        kept = {
            "type": read_text(c.get("type"), "condition type", 100),
            "status": read_text(c.get("status"), "condition status", 20),
            "reason": read_text(c.get("reason"), "condition reason", 100),
        }
        if message_limit is not None:
            kept["message"] = _redacted(read_text(c.get("message"), "condition message"), message_limit)
        out.append(kept)
    return out


def workload(obj: dict) -> dict:
    kind = read_text(obj.get("kind"), "kind", 20)
    spec, status = read_obj(obj.get("spec"), "spec"), read_obj(obj.get("status"), "status")
    meta = _meta(obj)
    row = {
        **base(obj),
        "kind": kind,
        "owner": _controller(meta),
        "generation": read_int(meta.get("generation"), "metadata.generation"),
        "observed_generation": read_int(status.get("observedGeneration"), "status.observedGeneration"),
        "details": {},
    }
    template = read_obj(spec.get("template"), "spec.template")
    if kind == "CronJob":
        job_spec = read_obj(
            read_obj(spec.get("jobTemplate"), "spec.jobTemplate").get("spec"), "spec.jobTemplate.spec"
        )
        template = read_obj(job_spec.get("template"), "spec.jobTemplate.spec.template")
    template_spec = read_obj(template.get("spec"), "template spec")
    template_meta = read_obj(template.get("metadata"), "template metadata")
    if kind == "CronJob":
        row["details"] = {
            "schedule": read_text(spec.get("schedule"), "spec.schedule", 100),
            "suspend": bool(spec.get("suspend")),
            "lastScheduleTime": read_text(status.get("lastScheduleTime"), "status.lastScheduleTime", 64)
            or None,
            "active": len(read_list(status.get("active"), "status.active")),
        }
    row["template"] = pod_template(template_spec)
    # The pod template's labels (what a PodDisruptionBudget selects) and allow-listed
    # annotations (Prometheus and Datadog scrape settings live there, not on the workload).
    row["template"]["metadata"] = {
        "labels": read_text_map(template_meta.get("labels"), "template labels"),
        "annotations": allowed_annotations(template_meta.get("annotations")),
    }

    def count(source: dict, key: str, default: int | None = 0) -> int | None:
        return read_int(source.get(key), key, default)

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
            "strategy": read_text(read_obj(spec.get("strategy"), "spec.strategy").get("type"), "strategy", 40)
            or "RollingUpdate",
            "conditions": _conditions(status, message_limit=300),
        }
    return row


def _container_state(status: dict) -> tuple[str, str, str]:
    """(state, reason, message) of one container status."""
    state = read_obj(status.get("state"), "containerStatuses.state")
    for name in ("waiting", "terminated"):
        if name in state:
            detail = read_obj(state[name], f"state.{name}")
            reason = read_text(detail.get("reason"), "state reason", 100)
            return name, reason, _redacted(read_text(detail.get("message"), "state message"), 1000)
    return "running", "", ""


def pod(obj: dict) -> dict:
    spec, status = read_obj(obj.get("spec"), "spec"), read_obj(obj.get("status"), "status")
    meta = _meta(obj)
    statuses = read_objs(status.get("containerStatuses"), "status.containerStatuses")
    reason = read_text(status.get("reason"), "status.reason")
    message = _redacted(read_text(status.get("message"), "status.message"), 1000)
    last_reason, last_exit, last_finished = "", None, None
    containers_state = {}
    restarts = ready = 0
    for cs in statuses:
        state, c_reason, c_message = _container_state(cs)
        last = read_obj(read_obj(cs.get("lastState"), "lastState").get("terminated"), "lastState.terminated")
        cs_restarts = read_int(cs.get("restartCount"), "restartCount", 0)
        cs_ready = bool(cs.get("ready"))
        restarts, ready = restarts + cs_restarts, ready + cs_ready
        last_termination = None
        if last:
            last_termination = {
                "reason": read_text(last.get("reason"), "lastState reason", 100),
                "exitCode": read_int(last.get("exitCode"), "lastState.exitCode"),
                "finishedAt": read_text(last.get("finishedAt"), "lastState.finishedAt", 64) or None,
            }
        containers_state[read_text(cs.get("name"), "containerStatuses.name", 253)] = {
            "state": state,
            "reason": c_reason,
            "message": c_message[:500],
            "ready": cs_ready,
            "restarts": cs_restarts,
            "image": read_text(cs.get("image"), "containerStatuses.image", 1000),
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
        scheduled = condition(read_objs(status.get("conditions"), "status.conditions"), "PodScheduled")
        if scheduled.get("status") == "False":
            reason = read_text(scheduled.get("reason"), "condition reason") or "Unschedulable"
            message = _redacted(read_text(scheduled.get("message"), "condition message"), 1000)
    template = pod_template(spec)
    for c in template["containers"]:
        c["status"] = containers_state.get(c["name"])
    return {
        **base(obj),
        "phase": read_text(status.get("phase"), "status.phase", 20),
        "ready_containers": ready,
        "total_containers": len(template["containers"]),
        "restarts": restarts,
        "reason": reason[:100],
        "message": message[:1000],
        "last_termination_reason": last_reason[:100],
        "last_exit_code": last_exit,
        "last_finished_at": read_time(last_finished, "lastState.finishedAt"),
        "node": read_text(spec.get("nodeName"), "spec.nodeName", 253),
        "images": [c["image"] for c in template["containers"]],
        "owner": _controller(meta),
        "service_account": template["serviceAccountName"],
        "started_at": read_time(status.get("startTime"), "status.startTime"),
        "spec": template,
    }


def service_account(obj: dict) -> dict:
    return base(obj)


def pdb(obj: dict) -> dict:
    spec, status = read_obj(obj.get("spec"), "spec"), read_obj(obj.get("status"), "status")
    return {
        **base(obj),
        "selector": read_json(read_obj(spec.get("selector"), "spec.selector"), "spec.selector"),
        "min_available": read_int_or_text(spec.get("minAvailable"), "spec.minAvailable", 20),
        "max_unavailable": read_int_or_text(spec.get("maxUnavailable"), "spec.maxUnavailable", 20),
        "current_healthy": read_int(status.get("currentHealthy"), "status.currentHealthy"),
        "desired_healthy": read_int(status.get("desiredHealthy"), "status.desiredHealthy"),
        "disruptions_allowed": read_int(status.get("disruptionsAllowed"), "status.disruptionsAllowed"),
    }


def warning_event(obj: dict) -> dict:
    involved = read_obj(obj.get("involvedObject") or obj.get("regarding"), "involvedObject")
    series = read_obj(obj.get("series"), "series")
    last = obj.get("lastTimestamp") or obj.get("eventTime") or series.get("lastObservedTime") or (
        _meta(obj).get("creationTimestamp")
    )  # fmt: skip
    row = base(obj)
    row["labels"] = {}
    return {
        **row,
        "reason": read_text(obj.get("reason"), "reason", 100),
        "message": _redacted(read_text(obj.get("message") or obj.get("note"), "message"), 1000),
        "involved_kind": read_text(involved.get("kind"), "involvedObject.kind", 40),
        "involved_name": read_text(involved.get("name"), "involvedObject.name", 253),
        "involved_uid": read_text(involved.get("uid"), "involvedObject.uid", 64),
        "count": read_int(obj.get("count"), "count") or read_int(series.get("count"), "series.count") or 1,
        "last_seen": read_time(last, "lastTimestamp"),
    }


def _short_condition(found: dict) -> dict | None:
    if not found:
        return None
    return {
        "status": read_text(found.get("status"), "condition status", 20),
        "reason": read_text(found.get("reason"), "condition reason", 100),
        "message": _redacted(read_text(found.get("message"), "condition message"), 500),
    }


def _url(value: object, what: str) -> str:
    return _redacted(read_text(value, what), 1000)


def flux_object(obj: dict) -> dict:
    """A Flux object: readiness, suspension, source, revisions, and what each kind adds."""
    kind = read_text(obj.get("kind"), "kind", 40)
    spec, status = read_obj(obj.get("spec"), "spec"), read_obj(obj.get("status"), "status")
    meta = _meta(obj)
    conditions = read_objs(status.get("conditions"), "status.conditions")
    ready = condition(conditions)
    source = read_obj(spec.get("sourceRef"), "spec.sourceRef")
    chart_spec = read_obj(read_obj(spec.get("chart"), "spec.chart").get("spec"), "spec.chart.spec")
    if kind == "HelmRelease":
        source = read_obj(chart_spec.get("sourceRef") or spec.get("chartRef"), "spec.chart.spec.sourceRef")
    details: dict = {}
    if kind == "HelmRelease":
        history = read_objs(status.get("history"), "status.history")
        newest = history[0] if history else {}
        details = {
            "chart": read_text(chart_spec.get("chart"), "spec.chart.spec.chart", 253),
            "history": {
                "chartName": read_text(newest.get("chartName"), "history.chartName", 253),
                "chartVersion": read_text(newest.get("chartVersion"), "history.chartVersion", 100),
                "appVersion": read_text(newest.get("appVersion"), "history.appVersion", 100),
                "status": read_text(newest.get("status"), "history.status", 40),
                "version": read_int(newest.get("version"), "history.version"),
            }
            if newest
            else None,
            "released": _short_condition(condition(conditions, "Released")),
            "remediated": _short_condition(condition(conditions, "Remediated")),
            "failures": read_int(status.get("failures"), "status.failures")
            or read_int(status.get("upgradeFailures"), "status.upgradeFailures")
            or 0,
        }
    elif kind == "ImagePolicy":
        latest = read_obj(status.get("latestRef"), "status.latestRef")
        image = read_text(latest.get("name"), "latestRef.name", 1000)
        tag = read_text(latest.get("tag"), "latestRef.tag", 200)
        latest_image = read_text(status.get("latestImage"), "status.latestImage", 1000)
        if not latest and latest_image:
            ref = image_parse(latest_image)
            image, tag = ref.repository, ref.tag
        details = {
            "image": image,
            "tag": tag,
            "digest": read_text(latest.get("digest"), "latestRef.digest", 200),
        }
    elif kind == "ImageRepository":
        scan = read_obj(status.get("lastScanResult"), "status.lastScanResult")
        details = {
            "image": read_text(spec.get("image"), "spec.image", 1000),
            "scanTime": read_text(scan.get("scanTime"), "lastScanResult.scanTime", 64),
            "tagCount": read_int(scan.get("tagCount"), "lastScanResult.tagCount"),
            "latestTags": read_texts(scan.get("latestTags"), "lastScanResult.latestTags", 200)[:10],
        }
    elif kind == "ImageUpdateAutomation":
        details = {
            "lastAutomationRunTime": read_text(
                status.get("lastAutomationRunTime"), "lastAutomationRunTime", 64
            ),
            "lastPushCommit": read_text(status.get("lastPushCommit"), "lastPushCommit", 100),
            "lastPushTime": read_text(status.get("lastPushTime"), "lastPushTime", 64),
        }
    elif kind in ("GitRepository", "OCIRepository"):
        ref = read_text_map(spec.get("ref"), "spec.ref")
        details = {"url": _url(spec.get("url"), "spec.url"), "ref": {k: v[:200] for k, v in ref.items()}}
    elif kind == "HelmRepository":
        details = {
            "url": _url(spec.get("url"), "spec.url"),
            "type": read_text(spec.get("type"), "spec.type", 20),
        }
    details["readySince"] = read_text(ready.get("lastTransitionTime"), "Ready lastTransitionTime", 64)
    return {
        **base(obj),
        "kind": kind,
        "api_version": read_text(obj.get("apiVersion"), "apiVersion", 100),
        "ready_status": read_text(ready.get("status"), "Ready status", 10),
        "ready_reason": read_text(ready.get("reason"), "Ready reason", 100),
        "ready_message": _redacted(read_text(ready.get("message"), "Ready message"), 2000),
        "suspended": bool(spec.get("suspend")),
        "interval": read_text(spec.get("interval"), "spec.interval", 20),
        "source_ref": {
            "kind": read_text(source.get("kind"), "sourceRef.kind", 40),
            "name": read_text(source.get("name"), "sourceRef.name", 253),
            "namespace": read_text(source.get("namespace"), "sourceRef.namespace", 63)
            or read_text(meta.get("namespace"), "metadata.namespace", 63),
        }
        if source
        else {},
        "target_namespace": read_text(spec.get("targetNamespace"), "spec.targetNamespace", 63),
        "path": read_text(spec.get("path"), "spec.path", 500),
        "last_handled_reconcile_at": read_text(
            status.get("lastHandledReconcileAt"), "lastHandledReconcileAt", 64
        ),
        "generation": read_int(meta.get("generation"), "metadata.generation"),
        "observed_generation": read_int(status.get("observedGeneration"), "status.observedGeneration"),
        "last_applied_revision": read_text(status.get("lastAppliedRevision"), "lastAppliedRevision", 200),
        "last_attempted_revision": read_text(
            status.get("lastAttemptedRevision"), "lastAttemptedRevision", 200
        ),
        "artifact_revision": read_text(
            read_obj(status.get("artifact"), "status.artifact").get("revision"), "artifact.revision", 200
        ),
        "details": details,
    }

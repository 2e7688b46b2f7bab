"""Reduce raw Kubernetes objects to what the portal shows or checks.

Only these functions see the API's JSON. They keep names, states and shapes;
they drop environment-variable values (except an allow-list), every annotation
not on the allow-list (kubectl's last-applied-configuration holds env values),
and everything else the portal does not use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime


def _time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def allowed_annotations(annotations: dict[str, str] | None) -> dict[str, str]:
    if not annotations:
        return {}
    keys = settings.SHIRUBE_ANNOTATION_ALLOWLIST
    kept = {}
    for key, value in annotations.items():
        if key == "kubectl.kubernetes.io/last-applied-configuration":
            continue
        if any(key == allowed or (allowed.endswith("/") and key.startswith(allowed))
               for allowed in keys):  # fmt: skip
            kept[key] = value[:2000]
    return kept


def _controller(meta: dict) -> dict:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return {
                "kind": ref.get("kind", ""),
                "name": ref.get("name", ""),
                "uid": ref.get("uid", ""),
            }
    refs = meta.get("ownerReferences") or []
    if refs:
        ref = refs[0]
        return {"kind": ref.get("kind", ""), "name": ref.get("name", ""), "uid": ref.get("uid", "")}
    return {}


def base(obj: dict) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "resource_version": meta.get("resourceVersion", ""),
        "labels": meta.get("labels") or {},
        "annotations": allowed_annotations(meta.get("annotations")),
        "created": _time(meta.get("creationTimestamp")),
    }


def _probe(probe: dict | None) -> dict | None:
    if not probe:
        return None
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        if kind in probe:
            handler = probe[kind]
            detail = {
                "httpGet": lambda h: f"{h.get('path', '/')}:{h.get('port', '')}",
                "tcpSocket": lambda h: str(h.get("port", "")),
                "exec": lambda h: " ".join(h.get("command") or [])[:200],
                "grpc": lambda h: str(h.get("port", "")),
            }[kind](handler)
            break
    else:
        kind, detail = "unknown", ""
    return {
        "type": kind,
        "detail": detail,
        "initialDelaySeconds": probe.get("initialDelaySeconds", 0),
        "periodSeconds": probe.get("periodSeconds", 10),
        "timeoutSeconds": probe.get("timeoutSeconds", 1),
        "failureThreshold": probe.get("failureThreshold", 3),
    }


def _pre_stop(container: dict) -> dict | None:
    hook = (container.get("lifecycle") or {}).get("preStop")
    if not hook:
        return None
    if "sleep" in hook:
        return {"type": "sleep", "seconds": (hook["sleep"] or {}).get("seconds")}
    if "exec" in hook:
        return {
            "type": "exec",
            "command": " ".join((hook["exec"] or {}).get("command") or [])[:200],
        }
    if "httpGet" in hook:
        return {"type": "httpGet", "path": (hook["httpGet"] or {}).get("path", "/")}
    return {"type": "unknown"}


def _env(container: dict) -> list[dict]:
    """Names only; a value only for names on the allow-list."""
    allow = settings.SHIRUBE_ENV_VALUE_ALLOWLIST
    env = []
    for var in container.get("env") or []:
        name = var.get("name", "")
        item = {"name": name}
        if "valueFrom" in var:
            source = next(iter(var["valueFrom"] or {}), "")
            item["from"] = source  # e.g. secretKeyRef: the kind of source, never its value
        elif name in allow and isinstance(var.get("value"), str):
            item["value"] = var["value"][:200]
        env.append(item)
    return env


def container(c: dict) -> dict:
    return {
        "name": c.get("name", ""),
        "image": c.get("image", ""),
        "ports": [
            {
                "containerPort": p.get("containerPort"),
                "name": p.get("name", ""),
                "protocol": p.get("protocol", "TCP"),
            }
            for p in c.get("ports") or []
        ],  # fmt: skip
        "readinessProbe": _probe(c.get("readinessProbe")),
        "livenessProbe": _probe(c.get("livenessProbe")),
        "startupProbe": _probe(c.get("startupProbe")),
        "preStop": _pre_stop(c),
        "resources": {
            "requests": (c.get("resources") or {}).get("requests") or {},
            "limits": (c.get("resources") or {}).get("limits") or {},
        },
        "env": _env(c),
        "envFrom": [next(iter(e), "") for e in c.get("envFrom") or []],
    }


def pod_template(spec: dict) -> dict:
    return {
        "containers": [container(c) for c in spec.get("containers") or []],
        "initContainers": [container(c) for c in spec.get("initContainers") or []],
        "terminationGracePeriodSeconds": spec.get("terminationGracePeriodSeconds", 30),
        "serviceAccountName": spec.get("serviceAccountName", "default"),
    }


def namespace(obj: dict) -> dict:
    return {**base(obj), "phase": (obj.get("status") or {}).get("phase", "")}


def workload(obj: dict) -> dict:
    kind = obj.get("kind", "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    row = {
        **base(obj),
        "kind": kind,
        "owner": _controller(meta),
        "generation": meta.get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "details": {},
    }
    template = spec.get("template") or {}
    if kind == "CronJob":
        job_spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        template = job_spec.get("template") or {}
    template_spec = template.get("spec") or {}
    template_meta = template.get("metadata") or {}
    if kind == "CronJob":
        row["details"] = {
            "schedule": spec.get("schedule", ""),
            "suspend": bool(spec.get("suspend")),
            "lastScheduleTime": status.get("lastScheduleTime"),
            "active": len(status.get("active") or []),
        }
    row["template"] = pod_template(template_spec)
    # The pod template's labels (what a PodDisruptionBudget selects) and allow-listed
    # annotations (Prometheus and Datadog scrape settings live there, not on the workload).
    row["template"]["metadata"] = {
        "labels": template_meta.get("labels") or {},
        "annotations": allowed_annotations(template_meta.get("annotations")),
    }
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        row.update(
            desired=spec.get("replicas", 1),
            ready=status.get("readyReplicas", 0),
            updated=status.get("updatedReplicas", 0 if kind != "ReplicaSet" else None),
            available=status.get("availableReplicas", 0),
        )
    elif kind == "DaemonSet":
        row.update(
            desired=status.get("desiredNumberScheduled", 0),
            ready=status.get("numberReady", 0),
            updated=status.get("updatedNumberScheduled", 0),
            available=status.get("numberAvailable", 0),
        )
    elif kind == "Job":
        row.update(
            desired=spec.get("completions", 1),
            ready=status.get("succeeded", 0),
            available=status.get("active", 0),
            updated=None,
        )
        row["details"] = {
            "failed": status.get("failed", 0),
            "conditions": [
                {"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason", "")}
                for c in status.get("conditions") or []
            ],
        }
    else:
        row.update(desired=None, ready=None, updated=None, available=None)
    if kind == "Deployment":
        row["details"] = {
            "strategy": (spec.get("strategy") or {}).get("type", "RollingUpdate"),
            "conditions": [
                {
                    "type": c.get("type"),
                    "status": c.get("status"),
                    "reason": c.get("reason", ""),
                    "message": (c.get("message") or "")[:300],
                }
                for c in status.get("conditions") or []
            ],  # fmt: skip
        }
    return row


def _container_state(status: dict) -> tuple[str, str, str]:
    """(state, reason, message) of one container status."""
    state = status.get("state") or {}
    if "waiting" in state:
        w = state["waiting"] or {}
        return "waiting", w.get("reason", ""), w.get("message", "")
    if "terminated" in state:
        t = state["terminated"] or {}
        return "terminated", t.get("reason", ""), t.get("message", "")
    return "running", "", ""


def pod(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    statuses = status.get("containerStatuses") or []
    reason, message = status.get("reason", ""), status.get("message", "")
    last_reason, last_exit, last_finished = "", None, None
    containers_state = {}
    for cs in statuses:
        state, c_reason, c_message = _container_state(cs)
        last = (cs.get("lastState") or {}).get("terminated") or {}
        containers_state[cs.get("name", "")] = {
            "state": state,
            "reason": c_reason,
            "message": c_message[:500],
            "ready": bool(cs.get("ready")),
            "restarts": cs.get("restartCount", 0),
            "image": cs.get("image", ""),
            "lastTermination": {
                "reason": last.get("reason", ""),
                "exitCode": last.get("exitCode"),
                "finishedAt": last.get("finishedAt"),
            } if last else None,
        }  # fmt: skip
        if c_reason and not reason:
            reason, message = c_reason, c_message
        if last and (last_finished is None or (last.get("finishedAt") or "") > (last_finished or "")):
            last_reason, last_exit, last_finished = (
                last.get("reason", ""), last.get("exitCode"), last.get("finishedAt"),
            )  # fmt: skip
    if not reason and status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                reason = condition.get("reason", "Unschedulable")
                message = condition.get("message", "")
    template = pod_template(spec)
    for c in template["containers"]:
        c["status"] = containers_state.get(c["name"])
    return {
        **base(obj),
        "phase": status.get("phase", ""),
        "ready_containers": sum(1 for cs in statuses if cs.get("ready")),
        "total_containers": len(spec.get("containers") or []),
        "restarts": sum(cs.get("restartCount", 0) for cs in statuses),
        "reason": reason[:100],
        "message": (message or "")[:1000],
        "last_termination_reason": last_reason[:100],
        "last_exit_code": last_exit,
        "last_finished_at": _time(last_finished),
        "node": spec.get("nodeName", ""),
        "images": [c.get("image", "") for c in spec.get("containers") or []],
        "owner": _controller(meta),
        "service_account": spec.get("serviceAccountName", "default"),
        "started_at": _time(status.get("startTime")),
        "spec": template,
    }


def service_account(obj: dict) -> dict:
    return base(obj)


def pdb(obj: dict) -> dict:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        **base(obj),
        "selector": spec.get("selector") or {},
        "min_available": str(spec.get("minAvailable", "")),
        "max_unavailable": str(spec.get("maxUnavailable", "")),
        "current_healthy": status.get("currentHealthy"),
        "desired_healthy": status.get("desiredHealthy"),
        "disruptions_allowed": status.get("disruptionsAllowed"),
    }


def warning_event(obj: dict) -> dict:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or (
        (obj.get("series") or {}).get("lastObservedTime")
    ) or (obj.get("metadata") or {}).get("creationTimestamp")  # fmt: skip
    row = base(obj)
    row["labels"] = {}
    return {
        **row,
        "reason": (obj.get("reason") or "")[:100],
        "message": (obj.get("message") or obj.get("note") or "")[:1000],
        "involved_kind": involved.get("kind", ""),
        "involved_name": involved.get("name", ""),
        "involved_uid": involved.get("uid", ""),
        "count": obj.get("count") or (obj.get("series") or {}).get("count") or 1,
        "last_seen": _time(last),
    }


def _condition(conditions: list[dict], type_: str) -> dict:
    for condition in conditions or []:
        if condition.get("type") == type_:
            return condition
    return {}


def _short_condition(condition: dict) -> dict | None:
    if not condition:
        return None
    return {
        "status": condition.get("status", ""),
        "reason": condition.get("reason", ""),
        "message": (condition.get("message") or "")[:500],
    }


def flux_object(obj: dict) -> dict:
    """A Flux object: readiness, suspension, source, revisions, and what each kind adds."""
    kind = obj.get("kind", "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    conditions = status.get("conditions") or []
    ready = _condition(conditions, "Ready")
    source = spec.get("sourceRef") or {}
    if kind == "HelmRelease":
        chart_spec = ((spec.get("chart") or {}).get("spec")) or {}
        source = chart_spec.get("sourceRef") or spec.get("chartRef") or {}
    details: dict = {}
    if kind == "HelmRelease":
        history = status.get("history") or []
        newest = history[0] if history else {}
        details = {
            "chart": ((spec.get("chart") or {}).get("spec") or {}).get("chart", ""),
            "history": {
                "chartName": newest.get("chartName", ""),
                "chartVersion": newest.get("chartVersion", ""),
                "appVersion": newest.get("appVersion", ""),
                "status": newest.get("status", ""),
                "version": newest.get("version"),
            }
            if newest
            else None,
            "released": _short_condition(_condition(conditions, "Released")),
            "remediated": _short_condition(_condition(conditions, "Remediated")),
            "failures": status.get("failures") or status.get("upgradeFailures") or 0,
        }
    elif kind == "ImagePolicy":
        latest = status.get("latestRef") or {}
        image = latest.get("name", "")
        tag = latest.get("tag", "")
        if not latest and status.get("latestImage"):
            image, _, tag = status["latestImage"].rpartition(":")
        details = {"image": image, "tag": tag, "digest": latest.get("digest", "")}
    elif kind == "ImageRepository":
        scan = status.get("lastScanResult") or {}
        details = {
            "image": spec.get("image", ""),
            "scanTime": scan.get("scanTime", ""),
            "tagCount": scan.get("tagCount"),
            "latestTags": (scan.get("latestTags") or [])[:10],
        }
    elif kind == "ImageUpdateAutomation":
        details = {
            "lastAutomationRunTime": status.get("lastAutomationRunTime", ""),
            "lastPushCommit": status.get("lastPushCommit", ""),
            "lastPushTime": status.get("lastPushTime", ""),
        }
    elif kind in ("GitRepository", "OCIRepository"):
        ref = spec.get("ref") or {}
        details = {"url": spec.get("url", ""), "ref": ref}
    elif kind == "HelmRepository":
        details = {"url": spec.get("url", ""), "type": spec.get("type", "")}
    details["readySince"] = ready.get("lastTransitionTime", "")
    return {
        **base(obj),
        "kind": kind,
        "api_version": obj.get("apiVersion", ""),
        "ready_status": ready.get("status", ""),
        "ready_reason": (ready.get("reason") or "")[:100],
        "ready_message": (ready.get("message") or "")[:2000],
        "suspended": bool(spec.get("suspend")),
        "interval": str(spec.get("interval", ""))[:20],
        "source_ref": {
            "kind": source.get("kind", ""),
            "name": source.get("name", ""),
            "namespace": source.get("namespace") or meta.get("namespace", ""),
        }
        if source
        else {},
        "target_namespace": str(spec.get("targetNamespace") or "")[:63],
        "path": str(spec.get("path", ""))[:500],
        "last_handled_reconcile_at": str(status.get("lastHandledReconcileAt", ""))[:64],
        "generation": meta.get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "last_applied_revision": str(status.get("lastAppliedRevision", ""))[:200],
        "last_attempted_revision": str(status.get("lastAttemptedRevision", ""))[:200],
        "artifact_revision": str((status.get("artifact") or {}).get("revision", ""))[:200],
        "details": details,
    }

"""Batch kinds: CronJobs and the Jobs they ran, each with its finished pod."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim.objects.metadata import condition, name_hash, object_meta, owner_reference, stable_uid
from kubesim.objects.pods import container, pod, pod_template_spec
from kubesim.objects.workloads import Workload
from kubesim.store import timestamp


def cronjob(
    namespace: str,
    name: str,
    image: str,
    schedule: str,
    *,
    containers: list[dict] | None = None,
    service_account: str = "default",
    last_schedule: datetime | None = None,
    created: datetime | None = None,
) -> dict:
    """A CronJob; build its runs with `job(..., owner=this)`."""
    created = created or datetime.now(UTC) - timedelta(days=40)
    containers = containers or [container(name, image, port=None, probes=False, pre_stop="")]
    last = last_schedule or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta("CronJob", namespace, name, {"app": name}, created),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {},
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": pod_template_spec(
                            containers, service_account=service_account, restart_policy="Never"
                        ),
                    },
                },
            },
        },
        "status": {
            "lastScheduleTime": timestamp(last),
            "lastSuccessfulTime": timestamp(last + timedelta(minutes=3, seconds=12)),
        },
    }


def job(
    namespace: str,
    name: str,
    image: str = "",
    *,
    owner: dict | None = None,
    containers: list[dict] | None = None,
    started: datetime | None = None,
) -> Workload:
    """A Job and its pod, finished (Complete); from a CronJob when `owner` is one."""
    started = started or datetime.now(UTC) - timedelta(hours=1)
    uid = stable_uid("Job", namespace, name)
    if owner is not None:
        template = json.loads(json.dumps(owner["spec"]["jobTemplate"]["spec"]["template"]))
        backoff = owner["spec"]["jobTemplate"]["spec"].get("backoffLimit", 6)
    else:
        containers = containers or [container(name, image, port=None, probes=False, pre_stop="")]
        template = {
            "metadata": {"labels": {}},
            "spec": pod_template_spec(containers, restart_policy="Never"),
        }
        backoff = 6
    selector = {"batch.kubernetes.io/controller-uid": uid}
    pod_labels = {
        **template["metadata"].get("labels", {}),
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    template["metadata"]["labels"] = pod_labels
    finished = started + timedelta(minutes=3, seconds=12)
    meta = object_meta("Job", namespace, name, pod_labels, started)
    meta["uid"] = uid
    if owner is not None:
        meta["ownerReferences"] = [owner_reference(owner)]
        meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": timestamp(started)}
    # The job controller sets an interim condition, then the final one.
    conditions = [
        {
            "type": type_,
            "status": "True",
            "lastProbeTime": timestamp(finished),
            "lastTransitionTime": timestamp(finished),
        }
        for type_ in ("SuccessCriteriaMet", "Complete")
    ]
    status: dict[str, Any] = {
        "startTime": timestamp(started),
        "terminating": 0,
        "ready": 0,
        "uncountedTerminatedPods": {},
        "conditions": conditions,
        "succeeded": 1,
        "completionTime": timestamp(finished),
    }
    job_obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": backoff,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "manualSelector": False,
            "selector": {"matchLabels": selector},
            "template": template,
        },
        "status": status,
    }
    pod_name = f"{name}-{name_hash(name, 'pod', length=5)}"
    job_pod = pod(namespace, pod_name, template["spec"], labels=pod_labels, owner=job_obj, started=started)
    _finish(job_pod, started, finished)
    return Workload(job_obj, [job_pod])


def _finish(pod: dict, started: datetime, finished: datetime) -> None:
    """A run-to-completion pod that has exited successfully (Completed)."""
    pod["status"]["phase"] = "Succeeded"
    for status in pod["status"]["containerStatuses"]:
        status.update(
            ready=False,
            started=False,
            state={
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": timestamp(started + timedelta(seconds=2)),
                    "finishedAt": timestamp(finished),
                    "containerID": status["containerID"],
                }
            },
        )
    when = timestamp(finished)
    conditions = pod["status"]["conditions"]
    for i, c in enumerate(conditions):
        if c["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
            reason_ = "PodCompleted" if c["type"] != "PodReadyToStartContainers" else ""
            conditions[i] = condition(c["type"], False, when, reason_)

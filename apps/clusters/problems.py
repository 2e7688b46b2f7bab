"""What is wrong with a pod, in plain language, and which lesson teaches the fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

# A container killed for memory this recently is still a problem even if it runs again.
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class Problem:
    key: str
    title: str
    explanation: str
    reasons: tuple[str, ...]  # lesson related_reasons that teach it
    severity: int  # lower sorts first


PROBLEMS = {
    p.key: p
    for p in [
        Problem(
            "CrashLoopBackOff", "Crashing and restarting",
            "The container starts, exits, and Kubernetes waits longer before each restart. "
            "Its last logs (kubectl logs --previous, or the Loki link) usually say why.",
            ("CrashLoopBackOff",), 1,
        ),
        Problem(
            "OOMKilled", "Killed for using too much memory",
            "The container went over its memory limit and the kernel killed it (exit code 137). "
            "Raise the limit or find what uses the memory.",
            ("OOMKilled",), 1,
        ),
        Problem(
            "ImagePullBackOff", "Cannot pull its image",
            "The node cannot fetch the image: the tag may not exist, or the node lacks "
            "permission to read the registry. Check the image name and tag.",
            ("ImagePullBackOff", "ErrImagePull"), 1,
        ),
        Problem(
            "CreateContainerConfigError", "Configuration missing",
            "A ConfigMap, Secret or key the pod refers to does not exist, so the container "
            "cannot be created.",
            ("CreateContainerConfigError",), 1,
        ),
        Problem(
            "Unschedulable", "Pending: no node can run it",
            "The scheduler found no node with enough free CPU or memory for the pod's "
            "requests (or none matching its constraints). Lower the requests or ask for capacity.",
            ("Unschedulable", "Pending", "FailedScheduling"), 2,
        ),
        Problem(
            "Pending", "Pending",
            "The pod has not started yet: it may be waiting for a node, a volume or its image.",
            ("Pending",), 3,
        ),
        Problem(
            "NotReady", "Running but not ready",
            "Its readiness probe fails, so it gets no traffic from its Services. "
            "It keeps running; look at the probe and at what it checks.",
            ("Unhealthy",), 2,
        ),
        Problem(
            "Failed", "Failed",
            "The pod stopped with an error and will not be restarted.",
            ("Error",), 2,
        ),
        Problem(
            "ManyRestarts", "Restarted many times",
            "It runs now but has restarted often; the last termination says why.",
            ("CrashLoopBackOff", "OOMKilled"), 3,
        ),
    ]
}  # fmt: skip

_IMAGE_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}


def classify(row: dict) -> str:
    """The problem key for a reduced pod row, or "" when it looks healthy."""
    reason, phase = row.get("reason", ""), row.get("phase", "")
    if reason == "CrashLoopBackOff":
        return "OOMKilled" if row.get("last_termination_reason") == "OOMKilled" else reason
    if reason in _IMAGE_REASONS:
        return "ImagePullBackOff"
    if reason in {"CreateContainerConfigError", "CreateContainerError"}:
        return "CreateContainerConfigError"
    if reason == "OOMKilled":
        return "OOMKilled"
    if phase == "Pending":
        return "Unschedulable" if reason == "Unschedulable" else "Pending"
    if phase == "Failed":
        return "Failed"
    if phase == "Running" and row.get("ready_containers", 0) < row.get("total_containers", 0):
        return "NotReady"
    finished = row.get("last_finished_at")
    if (
        row.get("last_termination_reason") == "OOMKilled"
        and finished is not None
        and timezone.now() - finished < RECENT
    ):
        return "OOMKilled"
    if row.get("restarts", 0) >= settings.SHIRUBE_MANY_RESTARTS:
        return "ManyRestarts"
    return ""

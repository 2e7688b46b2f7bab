"""The reducers keep what pages show and checks need, and never secrets."""

import copy
import json
import time

import pytest

from apps.clusters import reduce
from apps.clusters.problems import classify
from apps.clusters.typed_reads import Malformed

POD = {
    "kind": "Pod",
    "metadata": {
        "name": "checkout-api-7d9f-abcde", "namespace": "payments", "uid": "u-1",
        "resourceVersion": "42", "creationTimestamp": "2026-11-26T10:00:00Z",
        "labels": {"app": "checkout-api"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"env":[{"value":"hunter2"}]}',
            "ad.datadoghq.com/api.checks": "{}",
            "secret.example.com/token": "abc",
            "prometheus.io/scrape": "true",
        },
        "ownerReferences": [{"kind": "ReplicaSet", "name": "checkout-api-7d9f", "uid": "rs-1", "controller": True}],
    },
    "spec": {
        "nodeName": "ip-10-0-1-5", "serviceAccountName": "checkout", "terminationGracePeriodSeconds": 45,
        "containers": [{
            "name": "api", "image": "registry.example.com/checkout-api:1.4.2",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [
                {"name": "DATABASE_PASSWORD", "value": "hunter2"},
                {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
                {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}},
            ],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
            "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        }],
    },
    "status": {
        "phase": "Running", "startTime": "2026-11-26T10:00:05Z",
        "containerStatuses": [{
            "name": "api", "ready": False, "restartCount": 7, "image": "registry.example.com/checkout-api:1.4.2",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-26T11:00:00Z"}},
        }],
    },
}  # fmt: skip


def test_a_pod_keeps_its_state_and_shape():
    row = reduce.pod(POD)
    assert (row["phase"], row["ready_containers"], row["total_containers"], row["restarts"]) == (
        "Running", 0, 1, 7,
    )  # fmt: skip
    assert row["reason"] == "CrashLoopBackOff"
    assert (row["last_termination_reason"], row["last_exit_code"]) == ("OOMKilled", 137)
    assert row["owner"] == {"kind": "ReplicaSet", "name": "checkout-api-7d9f", "uid": "rs-1"}
    assert row["node"] == "ip-10-0-1-5" and row["service_account"] == "checkout"
    container = row["spec"]["containers"][0]
    assert container["preStop"] == {"type": "sleep", "seconds": 10}
    assert container["readinessProbe"]["detail"] == "/ready:8080"
    assert container["resources"]["limits"] == {"memory": "512Mi"}
    assert row["spec"]["terminationGracePeriodSeconds"] == 45


def test_env_values_never_survive_except_the_allow_list():
    row = reduce.pod(POD)
    env = row["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "DATABASE_PASSWORD"},
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        {"name": "API_KEY", "from": "secretKeyRef"},
    ]
    assert "hunter2" not in json.dumps(row, default=str)


def test_only_allow_listed_annotations_are_kept():
    row = reduce.pod(POD)
    assert row["annotations"] == {
        "ad.datadoghq.com/api.checks": "{}",
        "prometheus.io/scrape": "true",
    }


def test_a_deployment_keeps_replicas_and_template_without_last_applied():
    deployment = {
        "kind": "Deployment",
        "metadata": {
            **POD["metadata"],
            "name": "checkout-api",
            "ownerReferences": [],
            "generation": 3,
        },
        "spec": {"replicas": 3, "template": {"spec": POD["spec"]}},
        "status": {
            "readyReplicas": 2,
            "updatedReplicas": 3,
            "availableReplicas": 2,
            "observedGeneration": 3,
        },
    }
    row = reduce.workload(deployment)
    assert (row["desired"], row["ready"], row["updated"], row["available"]) == (3, 2, 3, 2)
    assert row["template"]["containers"][0]["env"][0] == {"name": "DATABASE_PASSWORD"}
    assert "hunter2" not in json.dumps(row, default=str)


def test_a_cronjob_reads_its_template_through_the_job_template():
    cronjob = {
        "kind": "CronJob",
        "metadata": {
            "name": "report",
            "namespace": "payments",
            "uid": "c1",
            "resourceVersion": "1",
        },
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {"spec": POD["spec"]}}},
        },
        "status": {},
    }
    row = reduce.workload(cronjob)
    assert row["details"]["schedule"] == "0 3 * * *"
    assert row["template"]["containers"][0]["name"] == "api"


def test_problems_are_classified():
    assert classify(reduce.pod(POD)) == "OOMKilled"  # crash-looping because of OOM
    base = {
        "phase": "Running",
        "ready_containers": 1,
        "total_containers": 1,
        "restarts": 0,
        "reason": "",
    }
    assert classify(base) == ""
    assert classify({**base, "reason": "CrashLoopBackOff"}) == "CrashLoopBackOff"
    assert classify({**base, "reason": "ErrImagePull"}) == "ImagePullBackOff"
    assert classify({**base, "phase": "Pending", "reason": "Unschedulable"}) == "Unschedulable"
    assert classify({**base, "ready_containers": 0}) == "NotReady"
    assert classify({**base, "restarts": 50}) == "ManyRestarts"


def test_a_pending_pod_takes_the_scheduler_reason():
    pending = {
        "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "1"},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]},
        "status": {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }]},
    }  # fmt: skip
    row = reduce.pod(pending)
    assert row["reason"] == "Unschedulable" and "Insufficient memory" in row["message"]


# --- malformed objects and text the database cannot store ---------------------------


def _pod_with(path: str, value):
    pod = copy.deepcopy(POD)
    *parents, last = path.split(".")
    node = pod
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value", "why"),
    [
        ("metadata.name", None, "metadata.name is missing"),
        ("metadata.name", 5, "metadata.name is a number"),
        ("metadata.name", "a/b", "is not a valid name"),
        ("metadata.name", "..", "is not a valid name"),
        ("metadata.name", "nul\x00name", "is not a valid name"),
        ("metadata.name", "x" * 254, "is not a valid name"),
        ("metadata.namespace", "pay/ments", "is not a valid name"),
        ("metadata.uid", None, "metadata.uid is missing"),
        ("metadata.labels", ["app"], "metadata.labels is a list"),
        ("metadata.labels", {"app": 5}, "is a number, not a string"),
        ("metadata.creationTimestamp", "yesterday", "is not a time"),
        ("metadata.ownerReferences", [None], "an item of metadata.ownerReferences is null"),
        ("spec.containers", {"name": "api"}, "spec.containers is an object, not a list"),
        ("spec.containers.0.image", 5, "container image is a number"),
        ("spec.containers.0.ports.0.containerPort", "http", "is a string, not an integer"),
        ("spec.terminationGracePeriodSeconds", "45", "is a string, not an integer"),
        ("spec.containers.0.readinessProbe.periodSeconds", 2**70, "is out of range"),
        ("status.containerStatuses.0.restartCount", 1.5, "is a number, not an integer"),
        ("status.containerStatuses.0.restartCount", True, "is a boolean"),
    ],
)
def test_a_malformed_pod_raises_malformed_saying_why(path, value, why):
    with pytest.raises(Malformed) as caught:
        reduce.pod(_pod_with(path, value))
    assert why in str(caught.value), str(caught.value)


def test_null_on_an_optional_field_reads_as_absent_as_kubernetes_reads_it():
    row = reduce.pod(_pod_with("spec.nodeName", None))
    assert row["node"] == ""
    row = reduce.pod(_pod_with("metadata.labels", None))
    assert row["labels"] == {}


def test_text_is_cleaned_of_what_postgresql_cannot_store():
    pod = _pod_with(
        "metadata.annotations", {"prometheus.io/path": "/met\x00rics\ud800", "prometheus.io/port": "80"}
    )
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = "back-off\x00"
    row = reduce.pod(pod)
    assert row["annotations"] == {"prometheus.io/path": "/metrics\ufffd", "prometheus.io/port": "80"}
    assert row["message"] == "back-off"
    json.dumps(row, default=str).encode("utf-8")  # no lone surrogate left anywhere


def test_a_huge_message_is_cut_cheaply_and_still_redacted():
    pod = copy.deepcopy(POD)
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["message"] = "login --password=hunter2 " + "aB1/" * 500_000  # 2 MB, base64-looking
    started = time.perf_counter()
    row = reduce.pod(pod)
    assert time.perf_counter() - started < 0.5
    assert len(row["message"]) == 1000 and "hunter2" not in row["message"]

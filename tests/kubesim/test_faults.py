import time

import orjson
import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubesim import objects as o

TEMPLATE = o.pod_template_spec([o.container("app", "app:1")])


@pytest.fixture
def seeded(sim):
    for ns in ("payments", "search"):
        sim.store.create(o.namespace(ns))
        for obj in o.deployment(ns, "api", "registry/api:v1", 1).objects():
            sim.store.create(obj)
    for i in range(10):
        sim.store.create(o.pod("payments", f"pod-{i:02d}", TEMPLATE))
    return sim


def status_of(exc: ApiException) -> dict:
    return orjson.loads(exc.body)


def test_a_403_on_one_path_leaves_the_others_working(seeded, api):
    seeded.add_fault(r"/apis/apps/v1/deployments", status=403)
    apps = client.AppsV1Api(api)

    with pytest.raises(ApiException) as caught:
        apps.list_deployment_for_all_namespaces()

    assert caught.value.status == 403
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps is forbidden: User "system:serviceaccount:shirube:shirube" '
        'cannot list resource "deployments" in API group "apps" at the cluster scope',
        "reason": "Forbidden",
        "details": {"group": "apps", "kind": "deployments"},
        "code": 403,
    }
    assert [d.metadata.name for d in apps.list_namespaced_deployment("search").items] == ["api"]
    assert client.CoreV1Api(api).list_pod_for_all_namespaces().items


def test_a_403_in_a_namespace_names_the_namespace(seeded, api):
    seeded.add_fault(r"/api/v1/namespaces/search/pods", status=403)

    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespaced_pod("search")

    assert status_of(caught.value)["message"] == (
        'pods is forbidden: User "system:serviceaccount:shirube:shirube" cannot list resource '
        '"pods" in API group "" in the namespace "search"'
    )


def test_a_500_on_page_three_of_five(seeded, api):
    seeded.add_fault(r"/api/v1/namespaces/payments/pods", status=500, page=3)
    core = client.CoreV1Api(api)
    first = core.list_namespaced_pod("payments", limit=3)
    second = core.list_namespaced_pod("payments", limit=3, _continue=first.metadata._continue)

    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod("payments", limit=3, _continue=second.metadata._continue)

    assert caught.value.status == 500
    assert status_of(caught.value)["reason"] == "InternalError"
    # Another list's first pages are unaffected, and page 3 works once the fault is gone.
    assert core.list_namespaced_pod("payments", limit=3).items
    seeded.clear_faults()
    third = core.list_namespaced_pod("payments", limit=3, _continue=second.metadata._continue)
    assert len(third.items) == 3


def test_times_limits_how_often_a_fault_fires(seeded, api):
    fault = seeded.add_fault(r"/api/v1/pods", status=503, times=2)
    core = client.CoreV1Api(api)

    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_pod_for_all_namespaces()
        assert caught.value.status == 503
        assert status_of(caught.value)["reason"] == "ServiceUnavailable"

    assert core.list_pod_for_all_namespaces().items
    assert fault.hits == 2


def test_only_continue_requests_can_be_targeted(seeded, api):
    seeded.add_fault(r"/api/v1/pods", status=404, only_continue=True)
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=2)

    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)

    assert first.items
    assert caught.value.status == 404


def test_a_delay_makes_the_client_time_out(seeded, make_client):
    seeded.add_fault(r"/api/v1/pods", delay=2)
    core = client.CoreV1Api(make_client(retries=False))
    started = time.monotonic()

    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        core.list_pod_for_all_namespaces(_request_timeout=0.3)

    assert time.monotonic() - started < 1.5
    # Other paths answer at once.
    assert core.list_namespace(_request_timeout=0.5).items


def test_a_delay_shorter_than_the_timeout_only_slows_the_answer(seeded, api):
    seeded.add_fault(r"/api/v1/namespaces", delay=0.3)
    started = time.monotonic()

    names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]

    assert names == ["payments", "search"]
    assert time.monotonic() - started >= 0.3


def test_a_dropped_connection_is_a_protocol_error(seeded, make_client):
    seeded.add_fault(r"/api/v1/pods", drop=True)
    core = client.CoreV1Api(make_client(retries=False))

    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.list_pod_for_all_namespaces()

    assert core.list_namespace().items


def test_urllib3_retries_a_dropped_get_once_the_fault_is_spent(seeded, api):
    # The official client retries idempotent requests on connection errors
    # (urllib3's default), so a single drop is invisible to callers.
    seeded.add_fault(r"/api/v1/pods", drop=True, times=1)
    seeded.reset_requests()

    pods = client.CoreV1Api(api).list_pod_for_all_namespaces().items

    assert pods
    assert seeded.requests.count(method="GET", path="/api/v1/pods") == 2


def test_a_fault_needs_an_action(sim):
    with pytest.raises(ValueError):
        sim.add_fault(r"/api/v1/pods")


def test_a_410_on_a_continue_reads_like_an_expired_token(seeded, api):
    seeded.add_fault(r"/api/v1/pods", status=410, only_continue=True, times=1)
    core = client.CoreV1Api(api)
    first = core.list_pod_for_all_namespaces(limit=2)

    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue)

    status = status_of(caught.value)
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("The provided continue parameter is too old")
    # The fault is spent: the same token works again.
    assert core.list_pod_for_all_namespaces(limit=2, _continue=first.metadata._continue).items


def test_a_rewrite_changes_the_json_text_of_matching_answers_only(seeded, api):
    # What the real server never sends (a lone surrogate escape), for tests of the portal's client.
    seeded.add_fault(r"/api/v1/namespaces/payments/pods", rewrite=('"pod-03"', '"pod-\\ud800"'))
    core = client.CoreV1Api(api)
    answer = core.list_namespaced_pod("payments", _preload_content=False).data
    assert b'"pod-\\ud800"' in answer and b'"pod-03"' not in answer
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(answer)
    assert any(p.metadata.name == "pod-03" for p in core.list_pod_for_all_namespaces().items)


def test_a_rewrite_must_be_two_strings(sim):
    with pytest.raises(ValueError):
        sim.add_fault(r"/api/v1/pods", rewrite=("", "x"))


def test_a_fault_for_one_method_leaves_the_others_working(seeded, api):
    seeded.add_fault(r"/apis/apps/v1/namespaces/payments/deployments/api", method="GET", status=500)
    apps = client.AppsV1Api(api)

    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("api", "payments")
    patched = apps.patch_namespaced_deployment("api", "payments", {"metadata": {"labels": {"seen": "yes"}}})

    assert caught.value.status == 500
    assert patched.metadata.labels["seen"] == "yes"

import socket

import orjson
import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubesim import Simulator
from kubesim import objects as o
from tests.kubesim.conftest import raw


def test_requests_without_the_token_get_a_401_status(sim, make_client):
    for token in (None, "wrong-token"):
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(make_client(token=token)).list_namespace()

        assert caught.value.status == 401
        assert orjson.loads(caught.value.body) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }


def test_discovery_needs_the_token_too(sim, make_client):
    with pytest.raises(ApiException) as caught:
        client.ApisApi(make_client(token=None)).get_api_versions()

    assert caught.value.status == 401


def test_without_a_token_configured_anyone_may_call(make_client):
    with Simulator() as open_sim:
        configuration = client.Configuration(host=open_sim.url)
        with client.ApiClient(configuration) as api:
            assert client.CoreV1Api(api).list_namespace().items == []


def test_requests_are_counted_per_method_and_path(sim, api):
    sim.store.create(o.namespace("payments"))
    core = client.CoreV1Api(api)

    core.list_namespaced_pod("payments")
    core.list_namespaced_pod("payments", limit=5)
    core.read_namespace("payments")
    with pytest.raises(ApiException):
        core.read_namespace("nope")

    assert sim.requests.total == 4
    assert sim.requests.count(path="/api/v1/namespaces/payments/pods") == 2
    assert sim.requests.count(method="GET", path="/api/v1/namespaces/nope") == 1
    assert sim.requests.count(method="POST") == 0


def test_reset_requests_starts_counting_again(sim, api):
    client.CoreV1Api(api).list_namespace()

    sim.reset_requests()

    assert sim.requests.total == 0
    assert sim.requests.count(path="/api/v1/namespaces") == 0


def test_the_request_count_is_readable_over_http_and_is_not_counted(sim, api):
    client.CoreV1Api(api).list_namespace()

    assert raw(api, "GET", "/_sim/requests") == (200, {"total": 1})
    assert raw(api, "GET", "/_sim/requests") == (200, {"total": 1})
    assert raw(api, "POST", "/_sim/faults", body={"path": "/nothing", "status": 500})[0] == 404


def test_stop_frees_the_port_and_closes_kept_alive_connections(make_client):
    sim = Simulator().start()
    api = client.ApiClient(client.Configuration(host=sim.url))
    core = client.CoreV1Api(api)
    core.list_namespace()  # leaves a kept-alive connection in the client's pool
    port = sim.port

    sim.stop()

    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespace(_request_timeout=1)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    api.close()


def test_a_given_port_is_used(make_client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with Simulator(port=port) as sim:
        assert sim.url == f"http://127.0.0.1:{port}"


def test_url_needs_a_started_simulator():
    with pytest.raises(RuntimeError):
        _ = Simulator().url

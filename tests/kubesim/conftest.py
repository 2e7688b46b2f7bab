"""Fixtures: a simulator per test, and official `kubernetes` clients talking to it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from kubernetes import client, config

from kubesim import Simulator

TOKEN = "kubesim-test-token"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def api(sim: Simulator, tmp_path) -> Iterator[client.ApiClient]:
    """A client built from a kubeconfig the simulator wrote, as the portal builds it."""
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def make_client(sim: Simulator) -> Iterator:
    """Build clients by hand, e.g. without retries or without a token."""
    made: list[client.ApiClient] = []

    def build(*, token: str | None = TOKEN, retries: object = None) -> client.ApiClient:
        configuration = client.Configuration(host=sim.url)
        if token:
            configuration.api_key = {"BearerToken": f"Bearer {token}"}
        if retries is not None:
            configuration.retries = retries
        api_client = client.ApiClient(configuration)
        made.append(api_client)
        return api_client

    yield build
    for api_client in made:
        api_client.close()


def raw(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    body: object = None,
    query: list[tuple[str, str]] | None = None,
    content_type: str | None = None,
) -> tuple[int, object]:
    """Send a request through the client's own HTTP layer; returns (status, parsed JSON)."""
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    serialized = api.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized)
    data = response.read()
    return response.status, orjson.loads(data) if data else None

"""API fixtures: the environments' people and rows, tokens of each kind, and a bearer client."""

from __future__ import annotations

import pytest

from apps.api.services import token_create
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401
from tests.environments.envfixtures import envs, flux_phase, people  # noqa: F401
from tests.environments.runnerfixtures import flux, repo, staging  # noqa: F401


@pytest.fixture
def token_for(db):
    """token_for(user, scopes=[...], team=None, environments=None) -> the token's value."""

    def make(user, scopes=("read",), **kwargs) -> str:
        return token_create(by=user, name="test", scopes=list(scopes), **kwargs)[1]

    return make


@pytest.fixture
def bearer(client):
    """bearer(value).get(path) / .post(path, json): the test client with the token in the header."""

    class Bearer:
        def __init__(self, value: str):
            self.headers = {"Authorization": f"Bearer {value}"}

        def get(self, path: str, headers: dict | None = None):
            return client.get(path, headers={**self.headers, **(headers or {})})

        def post(self, path: str, data: dict | None = None, headers: dict | None = None):
            return client.post(path, data=data or {}, content_type="application/json",
                               headers={**self.headers, **(headers or {})})  # fmt: skip

    return Bearer

"""The `keycloak` fixture: a real Keycloak for the session, started only when a test needs it.

Skips (with the reason) when the distribution is not fetched, except under CI=true, where a
Keycloak that cannot start fails the run. Fetch it with scripts/fetch-keycloak.sh. Imported
by tests/conftest.py, so that the sign-in tests and the browser tests share one server.
"""

from __future__ import annotations

import pytest

from tests.harness.keycloak import VERSION, Keycloak, KeycloakMissing
from tests.harness.servers import skip_or_fail as _skip_or_fail
from tests.sso import realm

_stats: dict = {"nodeids": set(), "server": None, "skip": None}


def skip_or_fail(reason: str):
    _skip_or_fail(reason, under_ci="the sign-in tests must run against Keycloak")


@pytest.fixture(scope="session")
def keycloak():
    try:
        server = Keycloak(realm=realm.realm_json())
    except KeycloakMissing as error:
        _stats["skip"] = str(error)
        skip_or_fail(str(error))
    server.start()
    _stats["server"] = server
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oidc(keycloak, settings):
    """Shirube's settings pointed at the test Keycloak, with the realm's groups mapped."""
    from django.core.cache import cache

    settings.SHIRUBE_OIDC_ISSUER = keycloak.issuer
    settings.OIDC_RP_CLIENT_ID = realm.CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = realm.CLIENT_SECRET
    settings.SHIRUBE_LOCAL_LOGIN = False
    cache.clear()  # discovery and keys of another test's provider
    yield keycloak
    cache.clear()


def pytest_collection_modifyitems(config, items):
    _stats["nodeids"] = {item.nodeid for item in items if "keycloak" in item.fixturenames}


def pytest_terminal_summary(terminalreporter):
    if not _stats["nodeids"]:
        return
    server = _stats["server"]
    if server is not None:
        t = server.timings
        terminalreporter.write_line(
            f"Keycloak {VERSION}: started in {t.get('total', 0):.1f} s "
            f"(copy {t.get('copy', 0):.1f} s) for {len(_stats['nodeids'])} tests"
        )
    elif _stats["skip"]:
        terminalreporter.write_line(f"Keycloak: {len(_stats['nodeids'])} tests not run: {_stats['skip']}")

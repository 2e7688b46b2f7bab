"""A real Keycloak for the session (started only when a test asks for it), and sign-in helpers.

Skips (with the reason) when the distribution is not fetched, except under CI=true, where a
Keycloak that cannot start fails the run. Fetch it with scripts/fetch-keycloak.sh.
"""

from __future__ import annotations

import html
import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.harness.keycloak import VERSION, Keycloak, KeycloakMissing
from tests.sso import realm

_stats: dict = {"nodeids": set(), "server": None, "skip": None}


def skip_or_fail(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the sign-in tests must run against Keycloak)", pytrace=False)
    pytest.skip(reason)


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


class LoopbackSession(requests.Session):
    """Keycloak marks its cookies Secure even over http; browsers still send them to a loopback
    address (a "potentially trustworthy" origin), and so does this session."""

    def send(self, request, **kwargs):
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


class KeycloakBrowser:
    """A person's browser at Keycloak (its cookies) driving the Django test client's sign-in."""

    def __init__(self, client, username: str, password: str = realm.PASSWORD):
        self.client = client
        self.username = username
        self.password = password
        self.http = LoopbackSession()

    def start(self, next_url: str = "") -> str:
        """Shirube's redirect to Keycloak's authorization endpoint."""
        response = self.client.get("/accounts/oidc/start/", {"next": next_url} if next_url else {})
        assert response.status_code == 302, response.content[:500]
        return response["Location"]

    def authorize(self, authorize_url: str) -> str:
        """Sign in on Keycloak's own login page (or its SSO cookie): the callback URL it sends back."""
        page = self.http.get(authorize_url, allow_redirects=False, timeout=30)
        if page.status_code == 200:
            match = re.search(r'<form[^>]+id="kc-form-login"[^>]+action="([^"]+)"', page.text)
            assert match, page.text[:2000]
            page = self.http.post(
                html.unescape(match.group(1)),
                data={"username": self.username, "password": self.password, "credentialId": ""},
                allow_redirects=False, timeout=30,
            )  # fmt: skip
        assert page.status_code in (302, 303), page.text[:2000]
        return page.headers["Location"]

    def callback(self, callback_url: str):
        parts = urlsplit(callback_url)
        assert parts.path == "/accounts/oidc/callback/", callback_url
        return self.client.get(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()})

    def sign_in(self, next_url: str = ""):
        return self.callback(self.authorize(self.start(next_url)))

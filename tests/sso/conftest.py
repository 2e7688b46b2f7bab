"""Sign-in helpers for the tests against Keycloak (its fixtures: tests/harness/keycloak_fixtures.py)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import requests

from tests.sso import realm


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

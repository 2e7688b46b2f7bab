from __future__ import annotations

import pytest
from django.conf import settings

# The browser, page and login fixtures, registered here once for every folder that drives pages.
from tests.harness.browser import browser, login, page  # noqa: F401


def pytest_configure(config):
    # Serve static files from the source folders (no collectstatic manifest in tests).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Test users are throwaway: a fast hasher keeps the many user fixtures cheap (PBKDF2's
    # million rounds cost half a second per user).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def sre(db):
    from apps.accounts.services import user_make_sre
    from tests.factories import UserFactory

    return user_make_sre(user=UserFactory(username="sre-user"))


@pytest.fixture
def client_for(client):
    """A logged-in test client for the given user."""

    def signed_in(user):
        client.force_login(user)
        return client

    return signed_in


# A real Keycloak for the sign-in tests, shared by tests/sso and tests/browser.
from tests.harness.keycloak_fixtures import (  # noqa: E402, F401
    keycloak,
    oidc,
    pytest_collection_finish,
)

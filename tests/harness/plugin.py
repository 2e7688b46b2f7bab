"""pytest plugin: start real PostgreSQL and Redis before Django reads its settings.

Loaded with `-p tests.harness.plugin` (see pyproject.toml), so it runs before
pytest-django configures Django. Set SHIRUBE_TEST_DATABASE_URL to use a server
you run yourself instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.harness.servers import PostgresServer, RedisServer

_servers: list = []
_temp_dirs: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "tests-only-secret-key"
    os.environ["ALLOWED_HOSTS"] = "localhost,127.0.0.1,testserver"
    os.environ["SECURE_COOKIES"] = "false"
    # The tests' GitOps repositories are local bare repositories (tests that need it turn this off).
    os.environ["SHIRUBE_GIT_ALLOW_LOCAL"] = "true"
    # A folder of this run's own, so that two test runs on one machine (two checkouts, say)
    # never share clones, keys or static files.
    if not os.environ.get("SHIRUBE_VAR_DIR"):
        os.environ["SHIRUBE_VAR_DIR"] = tempfile.mkdtemp(prefix="shirube-test-var-")
        _temp_dirs.append(os.environ["SHIRUBE_VAR_DIR"])
    var_dir = os.environ["SHIRUBE_VAR_DIR"]
    os.makedirs(os.path.join(var_dir, "static"), exist_ok=True)
    if os.environ.get("SHIRUBE_TEST_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["SHIRUBE_TEST_DATABASE_URL"]
    else:
        postgres = PostgresServer().start()
        _servers.append(postgres)
        os.environ["DATABASE_URL"] = postgres.url
    redis = RedisServer().start()
    _servers.append(redis)
    os.environ["REDIS_URL"] = redis.url
    os.environ["CELERY_BROKER_URL"] = redis.url


def pytest_report_header(config):
    return [f"servers: {type(s).__name__} on 127.0.0.1:{s.port}" for s in _servers]


def pytest_unconfigure(config):
    while _servers:
        _servers.pop().stop()
    while _temp_dirs:
        shutil.rmtree(_temp_dirs.pop(), ignore_errors=True)

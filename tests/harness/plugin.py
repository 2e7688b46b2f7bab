"""pytest plugin: start real PostgreSQL and Redis before Django reads its settings.

Loaded with `-p tests.harness.plugin` (see pyproject.toml), so it runs before
pytest-django configures Django. Set SHIRUBE_TEST_DATABASE_URL to use a server
you run yourself instead.

Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`) the controller
starts the servers once and its workers inherit their addresses. Each worker
then takes a share of its own: a database on the one PostgreSQL (pytest-django
names it `test_shirube_gw0`, `..._gw1`), a Redis database number (the cache,
the locks and Celery's queue: `cache.clear()` flushes only that number, and a
Celery worker a test starts only takes that test's tasks) and a var folder.
Tests that use an expensive session server (Keycloak, the real kube-apiserver)
are grouped onto one worker each, so each server starts once per run
(tests/harness/xdist_groups.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.harness.servers import REDIS_DATABASES, PostgresServer, RedisServer
from tests.harness.xdist_groups import (  # noqa: F401  (hooks, registered with this plugin)
    RUN_DIR,
    pytest_collection_finish,
    pytest_xdist_make_scheduler,
)

_servers: list = []
_temp_dirs: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        _take_worker_share(worker)
        return
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = "tests-only-secret-key"
    os.environ["ALLOWED_HOSTS"] = "localhost,127.0.0.1,testserver"
    os.environ["SECURE_COOKIES"] = "false"
    # The tests' GitOps repositories are local bare repositories (tests that need it turn this off).
    os.environ["SHIRUBE_GIT_ALLOW_LOCAL"] = "true"
    # What the controller and its xdist workers share for this run (the workers' test groups).
    os.environ[RUN_DIR] = tempfile.mkdtemp(prefix="shirube-test-run-")
    _temp_dirs.append(os.environ[RUN_DIR])
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


def _take_worker_share(worker: str) -> None:
    """An xdist worker: the controller's servers (inherited environment), with this worker's share."""
    number = int(worker.removeprefix("gw")) + 1  # Redis database 0 is the controller's, unused
    if number >= REDIS_DATABASES:
        raise pytest.UsageError(f"at most {REDIS_DATABASES - 1} xdist workers (one Redis database each)")
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ[name] = urlsplit(os.environ[name])._replace(path=f"/{number}").geturl()
    var_dir = os.path.join(os.environ["SHIRUBE_VAR_DIR"], worker)
    os.environ["SHIRUBE_VAR_DIR"] = var_dir
    os.makedirs(os.path.join(var_dir, "static"), exist_ok=True)


# The closing lines about the session servers (how long Keycloak and the real kube-apiserver took
# to start, how many tests ran against them, or why they did not run), from the modules that own
# those servers. Under xdist the controller runs no test and loads no conftest below tests/, so
# each worker hands its lines over in `workeroutput` and the controller prints them.
SUMMARIES: list[Callable[[], list[str]]] = []
_from_workers: list[str] = []


def _summary_lines() -> list[str]:
    return [line for summary in SUMMARIES for line in summary()]


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker
        session.config.workeroutput["server_summary"] = _summary_lines()


@pytest.hookimpl(optionalhook=True)  # an xdist hook: called in the controller as each worker ends
def pytest_testnodedown(node, error):
    _from_workers.extend(getattr(node, "workeroutput", {}).get("server_summary", []))


def pytest_terminal_summary(terminalreporter, config):
    distributed = config.pluginmanager.has_plugin("dsession")
    for line in dict.fromkeys(_from_workers if distributed else _summary_lines()):
        terminalreporter.write_line(line)


def pytest_report_header(config):
    return [f"servers: {type(s).__name__} on 127.0.0.1:{s.port}" for s in _servers]


def pytest_unconfigure(config):
    while _servers:
        _servers.pop().stop()
    while _temp_dirs:
        shutil.rmtree(_temp_dirs.pop(), ignore_errors=True)

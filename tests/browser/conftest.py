"""Headless Chromium (Debian's) driven by Playwright against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clusters.conftest import sim  # noqa: F401  (the kubesim fixture)

CHROMIUM = os.environ.get("SHIRUBE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between page actions are synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# Every page reports what the Content-Security-Policy blocked (an inline script, an eval, a
# style or an image from elsewhere) to the console, where the `page` fixture collects it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
                + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    violations: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "CSP violation" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not violations, f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def login(live_server):
    """Sign the browser in as `user` with a session made by force_login: these tests are not
    about signing in (tests/accounts and tests/sso are), so the throttle never touches them."""
    from django.conf import settings
    from django.test import Client

    def do_login(page, user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
        page.goto(f"{live_server.url}/learn/")
        page.wait_for_url(f"{live_server.url}/learn/")

    return do_login


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(tmp_path_factory):
    """A real Celery worker on the test Redis and the test database."""
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    # Deployments step every second and keep their clone cache out of the project's var/.
    env["SHIRUBE_DEPLOY_POLL_SECONDS"] = "1"
    env["SHIRUBE_GITOPS_WORKDIR"] = str(tmp_path_factory.mktemp("gitops-work"))
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield process
    process.terminate()
    process.wait(30)


@pytest.fixture
def cluster(sim, tmp_path):  # noqa: F811  (sim: the imported kubesim fixture)
    """The demo teams and a Cluster row for the kubesim demo server (transactional tests: no `db`)."""
    from apps.accounts.services import team_ensure
    from apps.clusters.services import cluster_declare

    team_ensure(slug="payments", name="Payments")
    team_ensure(slug="search", name="Search")
    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    return cluster_declare(name="demo", connection="kubeconfig", kubeconfig_path=str(path), context="demo")[0]

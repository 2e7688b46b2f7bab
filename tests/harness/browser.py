"""The headless Chromium the browser tests drive (Playwright's sync API), and its page and login
fixtures. Registered once, by the root conftest, for every folder that drives pages (tests/browser,
tests/realkube): a second registration would start a second Playwright in the same process, which
Playwright refuses ("Sync API inside the asyncio loop") for every browser test after it."""

from __future__ import annotations

import os
import shutil

import pytest

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

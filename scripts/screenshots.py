"""Take the README's screenshots from a running `make run` (http://127.0.0.1:8000)."""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs/screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def login(page, username):
    page.goto(f"{BASE}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "shirube-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{BASE}/learn/")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    login(page, "carol")
    page.screenshot(path=OUT / "learn.png")
    page.goto(f"{BASE}/learn/production-readiness/graceful-termination/")
    page.screenshot(path=OUT / "lesson.png")
    page.locator("#quiz input[type=radio], #quiz input[type=checkbox]").first.check()
    page.click("#quiz button[type=submit]")
    page.wait_for_selector("#quiz .message")
    page.locator("#quiz .message").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "quiz.png")
    page.goto(f"{BASE}/learn/teams/")
    page.screenshot(path=OUT / "teams.png")
    page.goto(f"{BASE}/teams/payments/")
    page.wait_for_selector(".fresh-line")
    page.screenshot(path=OUT / "team-live.png", full_page=False)
    page.locator(".problem-list a").first.click()
    page.wait_for_selector(".container-block")
    page.screenshot(path=OUT / "pod.png")
    page.goto(f"{BASE}/teams/payments/readiness/")
    page.screenshot(path=OUT / "readiness.png")
    page.context.clear_cookies()
    login(page, "alice")
    page.goto(f"{BASE}/teams/payments/environments/checkout-api-staging/")
    page.get_by_label("Image tag").fill("feature-x-3f2a1c9-1732600000")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.get_by_test_id("confirm-unverified").check()  # Flux's scan lists ten of the 42 tags
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_selector(".deployment-active")
    page.wait_for_timeout(4000)
    page.screenshot(path=OUT / "environment-deploying.png")
    page.goto(f"{BASE}/teams/payments/environments/checkout-api-production/")
    page.locator(".actions").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "environment-gates.png")
    page.context.clear_cookies()
    login(page, "sre")
    # A lesson with a diagram: the preview beside the form draws it as learners see it.
    page.goto(f"{BASE}/admin/lessons/lesson/?q=platform+map")
    page.click("text=The platform map")
    page.wait_for_selector("#lesson-preview svg")
    page.locator("#lesson-preview svg").first.scroll_into_view_if_needed()
    page.screenshot(path=OUT / "admin-preview.png")
    browser.close()

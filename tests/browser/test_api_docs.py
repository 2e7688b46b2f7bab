"""The API's docs page renders Swagger UI from the site's own files, under the site's CSP."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_page_renders_without_csp_violations(live_server, page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector(".opblock")  # an operation, drawn from /api/v1/openapi.json
    assert page.locator(".opblock").count() >= 15
    assert "Shirube API" in page.locator(".swagger-ui .title").first.inner_text()
    # Nothing from elsewhere: no CDN.
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requests), requests

"""The product's own error pages (what `make run` and production show), and how errors are logged."""

from __future__ import annotations

import io
import logging

import pytest

from tests.portal.error_urls import INTERNAL_DETAIL


@pytest.fixture
def log_output():
    """Everything the configured console handlers print (pytest's own capture handlers aside)."""
    buffer = io.StringIO()
    handlers = {
        handler
        for name in ("", "django", "django.request")
        for handler in logging.getLogger(name).handlers
        if type(handler) is logging.StreamHandler
    }
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    yield buffer
    for handler, stream in previous.items():
        handler.setStream(stream)


@pytest.mark.django_db
def test_an_unknown_address_shows_the_products_404(client_for, user):
    response = client_for(user).get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Not found</h1>" in page and "/no-such-page/" in page
    assert 'href="/learn/"' in page and 'href="/teams/"' in page
    assert "URLconf" not in page  # Django's debug page lists the URL patterns


@pytest.mark.django_db
def test_the_404_page_needs_no_login(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_a_crash_shows_the_products_500_without_internals(client_for, user, log_output):
    client = client_for(user)
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>Something went wrong</h1>" in page and "shirube.css" in page
    assert INTERNAL_DETAIL not in page and "Traceback" not in page and "RuntimeError" not in page
    # The log keeps what the page leaves out, once.
    log = log_output.getvalue()
    assert log.count("Traceback") == 1 and INTERNAL_DETAIL in log


@pytest.mark.django_db
def test_an_expired_form_says_so_and_that_nothing_changed(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/accounts/logout/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and "Nothing was changed" in page


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_a_403_is_logged_as_one_line_without_a_traceback(client_for, user, settings, log_output, debug):
    settings.DEBUG = debug  # `make run` had DEBUG on: Django's own console handler printed it again
    response = client_for(user).get("/readiness/")  # the all-teams view is for SREs
    assert response.status_code == 403
    log = log_output.getvalue()
    assert "Traceback" not in log
    assert [line for line in log.splitlines() if line.strip()] == [
        line for line in log.splitlines() if "Forbidden (Permission denied): /readiness/" in line
    ]
    assert log.count("Forbidden") == 1

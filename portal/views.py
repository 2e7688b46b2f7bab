"""Probes and the error pages (the home page is apps/home)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from apps.core.inputs import InvalidInput

log = logging.getLogger(__name__)


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """The database answers; a load balancer may send traffic."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # Anyone can call the probe, so it says only what failed; the error itself, which
        # names the database's host and port, goes to the log.
        log.exception("readyz: the database did not answer")
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400: say what was wrong when it is one of our own input checks (their messages are safe to show)."""
    message = exception.message if isinstance(exception, InvalidInput) else ""
    if request.path.startswith("/api/"):
        # API clients read problem details (docs/api.md), never a page.
        body = {"type": "https://shirube.dev/problems/invalid", "title": "The request is not valid",
                "status": 400, "detail": message, "gates": [], "lessons": []}  # fmt: skip
        return JsonResponse(body, status=400, content_type="application/problem+json")
    return render(request, "400.html", {"message": message}, status=400)

"""Requests refused before any view sees them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from apps.core.inputs import shown, text

# Longer than any address the site makes; servers in front cut request lines at about 4 KiB anyway.
MAX_ADDRESS = 4096


def reject_control_characters(get_response: Callable[[HttpRequest], HttpResponse]):
    """Answer 400 to an address whose path or query parameters hold control characters.

    URL parameters (a pod's namespace and name, an admin list filter, a search) reach
    database lookups in many places, and PostgreSQL refuses a NUL in text: without this,
    `%00` anywhere in an address was a 500. No address of this site holds a control
    character. Each view still checks its own parameters' lengths and allowed values.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        text(request.path, field="address", max_length=MAX_ADDRESS)
        for key, values in request.GET.lists():
            text(key, field="query parameter name", max_length=MAX_ADDRESS)
            for value in values:
                # A query value may hold a pasted line break or tab (a search); nothing else.
                text(
                    value, field=f"query parameter “{shown(key, 40)}”", max_length=MAX_ADDRESS, multiline=True
                )
        return get_response(request)

    return middleware

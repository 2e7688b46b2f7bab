"""Response headers that Django's SecurityMiddleware does not set: the Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@cache
def _policy(issuer: str) -> str:
    # Scripts only from our own static files: no inline script, no eval, no CDN (htmx and
    # Mermaid are served by WhiteNoise). Styles may be inline: Mermaid writes <style> into
    # each SVG it draws, htmx adds its indicator style, and the admin sets style attributes;
    # CSS cannot run code, and lesson HTML is sanitised (nh3 keeps no style attribute).
    # Lesson images may come from any https:// host (the sanitiser's rule). Forms post to
    # ourselves; a logout form is redirected to the identity provider's end-session page,
    # which form-action must allow too, as browsers check a form's redirects.
    form_action = "'self'"
    if issuer:
        parts = urlsplit(issuer)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https: data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
        ]
    )


def content_security_policy(get_response: Callable[[HttpRequest], HttpResponse]):
    """Set the Content-Security-Policy on every response that has none of its own."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", _policy(settings.SHIRUBE_OIDC_ISSUER))
        return response

    return middleware

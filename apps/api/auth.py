"""Bearer tokens only (never a cookie, so no CSRF to guard), and the per-token rate limits."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from ninja.security.http import HttpAuthBase

from apps.accounts.limits import Limit, limit_hit
from apps.api.models import ApiToken
from apps.api.problems import Problem
from apps.api.services import token_use

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


# The limiter refuses the hit that reaches `hits`: one more, so that N requests a minute all pass.
def read_limit() -> Limit:
    return Limit(scope="api-read", hits=settings.SHIRUBE_API_READ_LIMIT + 1, window=timedelta(minutes=1))


def write_limit() -> Limit:
    return Limit(scope="api-write", hits=settings.SHIRUBE_API_WRITE_LIMIT + 1, window=timedelta(minutes=1))


class TokenAuth(HttpAuthBase):
    """`Authorization: Bearer shirube_…`. Written here rather than ninja's HttpBearer, which logs the
    whole header under DEBUG when the scheme is not Bearer: a token must never reach a log."""

    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        token = token_use(value=value.strip())
        if token is None:
            return None
        verdict = limit_hit(
            limit=read_limit() if request.method in SAFE_METHODS else write_limit(), key=str(token.pk)
        )
        if verdict.blocked:
            raise Problem(429, "rate-limited", "Too many requests for this token",
                          f"Try again in {verdict.retry_after} s.",
                          headers={"Retry-After": str(verdict.retry_after)})  # fmt: skip
        user = token.user
        if token.kind == ApiToken.Kind.SERVICE:
            # What the environments' gates read (accounts.permissions.service_environment_ids).
            user._shirube_service_environments = frozenset(token.environments.values_list("pk", flat=True))
        request.user = user
        request.api_token = token
        return token


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth


def scope_require(request: HttpRequest, scope: str) -> ApiToken:
    token = token_of(request)
    if scope not in token.scopes:
        raise Problem(
            403, "scope", "The token lacks a scope", f"This needs a token with the “{scope}” scope."
        )
    return token

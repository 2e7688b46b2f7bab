"""Idempotency-Key on POSTs: kept 24 hours per token; the same key and body answer the first result.

The key's row is committed before the work starts (outside any transaction), so a second
request with the key sees it at once: in flight (409), another body (422), or finished (the
stored answer). A request that ends in an unexpected error forgets its key, so it can be sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.api.models import ApiToken, IdempotentRequest
from apps.api.problems import Problem
from apps.core.inputs import shown

KEEP = timedelta(hours=24)
KEY_MAX_LENGTH = 255


def _digest(request: HttpRequest) -> str:
    return hashlib.sha256(request.path.encode() + b"\0" + request.body).hexdigest()


def idempotent(
    request: HttpRequest, token: ApiToken, run: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """Run `run` once per (token, Idempotency-Key); without the header, every time."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return run()
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable() or not key.isascii():
        raise Problem(400, "invalid", "Bad Idempotency-Key",
                      f"“{shown(key, 40)}”: 1 to {KEY_MAX_LENGTH} printable ASCII characters.")  # fmt: skip
    digest = _digest(request)
    IdempotentRequest.objects.filter(token=token, key=key, created_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():
            row = IdempotentRequest.objects.create(
                token=token, key=key, body_digest=digest, path=request.path
            )
    except IntegrityError:
        first = IdempotentRequest.objects.get(token=token, key=key)
        if first.body_digest != digest:
            raise Problem(422, "idempotency-key-reused", "Idempotency-Key used for another request",
                          "This key was sent with another body or to another address.") from None  # fmt: skip
        if first.status is None:
            raise Problem(409, "idempotency-in-flight", "The first request with this key is still running",
                          "Wait for it, then send again to get its result.") from None  # fmt: skip
        if first.status >= 400:
            kind = first.response.get("type", "").rsplit("/", 1)[-1] or "refused"
            raise Problem(first.status, kind, first.response.get("title", ""),
                          first.response.get("detail", ""), gates=first.response.get("gates"),
                          lessons=first.response.get("lessons")) from None  # fmt: skip
        return first.status, first.response
    try:
        status, body = run()
    except Problem as problem:
        if problem.status in (400, 403, 404, 422):  # the answer to this body: the same next time
            IdempotentRequest.objects.filter(pk=row.pk).update(status=problem.status, response=problem.body())
        else:
            row.delete()
        raise
    except BaseException:
        row.delete()
        raise
    IdempotentRequest.objects.filter(pk=row.pk).update(status=status, response=_jsonable(body))
    return status, body


def _jsonable(body: dict) -> dict:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def idempotency_prune() -> int:
    return IdempotentRequest.objects.filter(created_at__lt=timezone.now() - KEEP).delete()[0]

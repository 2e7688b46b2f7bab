"""Is this request from Slack, and new? Signature, age, and a replay guard, before anything else.

Slack signs `v0:<timestamp>:<body>` with the app's signing secret (HMAC-SHA256, in
`X-Slack-Signature`); slack_sdk's SignatureVerifier checks it in constant time and refuses
timestamps more than 5 minutes from now. A request that passes is then recorded by the
SHA-256 of its body: the same body again (an attacker's replay inside the window, or a
retry) is refused, so each request is handled once. Keys outlive the window (pruned after
REPLAY_KEEP), so a replay can never come back after its key was forgotten.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.chatops.models import SlackRequest

log = logging.getLogger(__name__)

WINDOW_SECONDS = 5 * 60
REPLAY_KEEP = timedelta(seconds=2 * WINDOW_SECONDS)


class Refused(Exception):
    """Not from Slack, too old, or seen before: nothing is done."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def slack_request_verify(
    *, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    """Raise Refused unless the request is signed by Slack, recent, and not seen before."""
    from slack_sdk.signature import Clock, SignatureVerifier

    secret = settings.SHIRUBE_SLACK_SIGNING_SECRET
    if not secret:
        raise Refused("Slack is not configured here.", 404)
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or not signature:
        raise Refused("Missing Slack signature headers.", 401)

    class _Now(Clock):
        def now(self) -> float:
            return now if now is not None else super().now()

    verifier = SignatureVerifier(secret, clock=_Now())
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        # is_valid also refuses a timestamp more than 5 minutes away: say which, for the log.
        current = now if now is not None else timezone.now().timestamp()
        stale = abs(current - int(timestamp)) > WINDOW_SECONDS
        raise Refused("Stale request timestamp." if stale else "Bad signature.", 401)
    key = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            SlackRequest.objects.create(key=key)
    except IntegrityError:
        raise Refused("This request was already handled.", 409) from None


def slack_requests_prune() -> int:
    deleted, _ = SlackRequest.objects.filter(received_at__lt=timezone.now() - REPLAY_KEEP).delete()
    return deleted

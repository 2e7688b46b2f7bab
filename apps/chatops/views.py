"""Slack's requests: verified, recorded, acknowledged within Slack's 3 seconds; the work runs in Celery.

No session and no CSRF token: Slack signs each request instead (verify.py), and nothing
here runs before the signature, the timestamp and the replay guard have passed.
"""

from __future__ import annotations

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.chatops import services
from apps.chatops.verify import Refused, slack_request_verify

log = logging.getLogger(__name__)


def _verified(request: HttpRequest) -> HttpResponse | None:
    """None when the request may be handled; else the refusal (nothing done; a log line only)."""
    try:
        slack_request_verify(
            body=request.body,
            timestamp=request.headers.get("X-Slack-Request-Timestamp"),
            signature=request.headers.get("X-Slack-Signature"),
        )
    except Refused as exc:
        log.warning("Slack request refused: %s", exc)
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain")
    return None


@csrf_exempt
@login_not_required
@require_POST
def slash_command(request: HttpRequest) -> HttpResponse:
    if refusal := _verified(request):
        return refusal
    answer = services.command_receive(
        slack_team_id=request.POST.get("team_id", ""), slack_user_id=request.POST.get("user_id", ""),
        channel_id=request.POST.get("channel_id", ""), text=request.POST.get("text", ""),
        response_url=request.POST.get("response_url", ""),
    )  # fmt: skip
    return JsonResponse({"response_type": "ephemeral", "text": answer})


@csrf_exempt
@login_not_required
@require_POST
def interactivity(request: HttpRequest) -> HttpResponse:
    if refusal := _verified(request):
        return refusal
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return HttpResponse("Bad payload.", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("Bad payload.", status=400, content_type="text/plain")
    answer = services.interaction_receive(payload=payload)
    if answer is None:
        return HttpResponse(status=200)  # a form submission: an empty 200 closes the modal
    return JsonResponse({"response_type": "ephemeral", "replace_original": False, "text": answer})

"""The notification pages: each person's settings, and what was sent and what failed (SREs)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.permissions import can_see_notification_log
from apps.core import inputs
from apps.notifications import selectors, services
from apps.notifications.kinds import PERSONAL_CHANNELS
from apps.notifications.models import Delivery


def _settings_context(request: HttpRequest, **extra) -> dict:
    return {
        "rows": selectors.preferences_for(user=request.user),
        "channels": PERSONAL_CHANNELS,
        "slack_link": selectors.slack_link_for(user=request.user),
        **extra,
    }


@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """GET: the switches and the Slack link. POST: the switches as a whole (an unticked box is off)."""
    if request.method == "POST":
        ticked = set(request.POST.getlist("on"))
        for row in selectors.preferences_for(user=request.user):
            for channel, _enabled in row.channels:
                services.preference_set(
                    user=request.user,
                    kind=row.kind,
                    channel=channel,
                    enabled=f"{row.kind}:{channel}" in ticked,
                )
        messages.success(request, "Saved what Shirube tells you.")
        return redirect("notifications:settings")
    return render(request, "notifications/settings.html", _settings_context(request))


@require_POST
def slack_link_start(request: HttpRequest) -> HttpResponse:
    """Show a one-time code to type in Slack as `/shirube link CODE` (shown once, kept hashed)."""
    code = services.slack_link_code_create(user=request.user)
    context = _settings_context(request, link_code=code, link_minutes=services.LINK_CODE_MINUTES)
    return render(request, "notifications/settings.html", context)


@require_POST
def slack_unlink(request: HttpRequest) -> HttpResponse:
    if services.slack_unlink(user=request.user):
        messages.success(request, "Your Slack account is no longer linked.")
    return redirect("notifications:settings")


@require_GET
def delivery_log(request: HttpRequest) -> HttpResponse:
    if not can_see_notification_log(request.user):
        raise PermissionDenied("What Shirube sent is for SREs.")
    status = inputs.choice(
        request.GET.get("status", ""), field="status", choices=["", *Delivery.Status.values], label="status"
    )
    counts = selectors.delivery_counts()
    context = {
        "deliveries": selectors.deliveries_recent(status=status),
        "status": status,
        "statuses": [(value, label, counts[value]) for value, label in Delivery.Status.choices],
        "max_tries": services.MAX_TRIES,
    }
    return render(request, "notifications/log.html", context)


@require_POST
def delivery_retry(request: HttpRequest, delivery_id: int) -> HttpResponse:
    if not can_see_notification_log(request.user):
        raise PermissionDenied("What Shirube sent is for SREs.")
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery")
    if services.delivery_retry(delivery=delivery):
        messages.success(request, f"Sending delivery #{delivery.pk} again.")
    return redirect("notifications:log")

"""Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.notifications import services

# One Slack call or one SMTP conversation, each bounded by its own timeout, plus room.
SEND_SOFT_TIME_LIMIT = 60
SEND_TIME_LIMIT = 90  # below services.SENDING_TIMEOUT_SECONDS: a slow send is never taken for a dead one


@shared_task(
    acks_late=True, ignore_result=True, soft_time_limit=SEND_SOFT_TIME_LIMIT, time_limit=SEND_TIME_LIMIT
)
def delivery_send(delivery_id: int) -> str:
    """Try one delivery; queue the next try itself (backoff, or Slack's Retry-After)."""
    delay = services.delivery_attempt(delivery_id=delivery_id)
    if delay is None:
        return "done"
    delivery_send.apply_async((delivery_id,), countdown=delay)
    return "retrying"


@shared_task(ignore_result=True)
def deliveries_recover() -> int:
    return services.deliveries_recover()


@shared_task(ignore_result=True)
def deliveries_prune() -> int:
    return services.deliveries_prune(days=settings.SHIRUBE_NOTIFY_RETENTION_DAYS)


@shared_task(ignore_result=True)
def state_changes_flush() -> int:
    return services.state_changes_flush()

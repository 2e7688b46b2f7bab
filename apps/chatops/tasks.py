"""Celery tasks: take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.chatops import services, verify


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=150)
def chat_command_run(command_id: int) -> str:
    return "done" if services.command_run(command_id=command_id) is not None else "already run"


@shared_task(ignore_result=True)
def slack_requests_prune() -> int:
    """Replay keys past the window, and commands older than the notifications' retention."""
    return verify.slack_requests_prune() + services.commands_prune(
        days=settings.SHIRUBE_NOTIFY_RETENTION_DAYS
    )

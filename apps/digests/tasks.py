"""Celery tasks: the daily digests (beat, at SHIRUBE_DIGEST_HOUR)."""

from __future__ import annotations

from celery import shared_task

from apps.digests import services


@shared_task(ignore_result=True)
def digests_send() -> dict:
    return {"readiness": services.readiness_digest_send(), "stuck": services.stuck_digest_send()}

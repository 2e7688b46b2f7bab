from celery import shared_task

from apps.lessons import services


@shared_task(
    autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=3,
    acks_late=True,
)  # fmt: skip
def lessons_rerender_stale() -> int:
    """Re-render lessons after the renderer changed (scheduled by beat)."""
    return services.lessons_rerender_stale()

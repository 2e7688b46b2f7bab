from celery import shared_task

from apps.api import idempotency


@shared_task(ignore_result=True)
def idempotency_prune() -> int:
    """Forget Idempotency-Keys older than 24 hours: a key may then be used again."""
    return idempotency.idempotency_prune()

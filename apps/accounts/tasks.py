from celery import shared_task

from apps.accounts import limits


@shared_task(ignore_result=True)
def limits_prune() -> int:
    """Forget limiter rows whose window and block ended a day ago."""
    return limits.limits_prune()

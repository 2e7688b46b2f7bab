"""Celery tasks: take ids, load objects, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.core.stepping import chains_restart, step_next
from apps.environments import runner
from apps.environments.models import Environment


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.SHIRUBE_GIT_TIMEOUT * (settings.SHIRUBE_GIT_PUSH_ATTEMPTS + 3) + 60,
    ignore_result=True,
)
def deployment_advance(deployment_id: int) -> str:
    """One step of a deployment; queues the next step itself until the deployment is finished."""
    delay = runner.deployment_advance(deployment_id=deployment_id)
    return step_next(deployment_advance, deployment_id, delay)


@shared_task(ignore_result=True)
def deployments_watchdog() -> int:
    """Restart the step chain of deployments whose queued task was lost (a broker restart)."""
    return chains_restart(deployment_advance, runner.deployments_stalled())


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def environment_refresh(environment_id: int) -> str:
    environment = Environment.objects.select_related("cluster").filter(pk=environment_id).first()
    if environment is None:
        return "gone"
    runner.environment_refresh(environment=environment)
    return environment.git_error and "error" or "ok"


@shared_task(ignore_result=True)
def environments_refresh_all() -> int:
    ids = list(Environment.objects.values_list("pk", flat=True))
    for environment_id in ids:
        environment_refresh.apply_async((environment_id,), expires=settings.SHIRUBE_GIT_REFRESH_INTERVAL)
    return len(ids)

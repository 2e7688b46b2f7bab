"""The Celery application: configured from Django settings (CELERY_* names)."""

import os

from celery import Celery

from apps.core.metrics import celery_metrics_connect

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("shirube")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_metrics_connect()

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from apps.core.metrics import metrics_wsgi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# /metrics answers only on SHIRUBE_METRICS_PORT, before Django (apps.core.metrics).
application = metrics_wsgi(get_wsgi_application(), port=settings.SHIRUBE_METRICS_PORT)

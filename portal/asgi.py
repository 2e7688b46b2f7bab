import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

from apps.core.metrics import metrics_asgi  # noqa: E402  (after Django's set-up: it reads settings)

# /metrics answers only on SHIRUBE_METRICS_PORT, before Django (apps.core.metrics).
application = metrics_asgi(django_application, port=settings.SHIRUBE_METRICS_PORT)

"""What every benchmark does first: Django on a fresh PostgreSQL, migrated, without a Redis cache.

Tasks the measured code queues go to a throwaway Redis broker and are never run
(the benchmarks step the work themselves); Celery has no broker that needs no
server any more (docs/decisions.md, issue 13).
"""

from __future__ import annotations

import atexit
import os


def django_on(database_url: str, var_dir: str) -> None:
    from tests.harness.servers import RedisServer

    broker = RedisServer().start()
    atexit.register(broker.stop)
    os.environ.update(
        DATABASE_URL=database_url, DEBUG="false", SECRET_KEY="bench", ALLOWED_HOSTS="testserver",
        SHIRUBE_VAR_DIR=var_dir, CELERY_BROKER_URL=broker.url,
    )  # fmt: skip
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # No collectstatic manifest here: serve static files from their folders.
    settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    call_command("migrate", verbosity=0)

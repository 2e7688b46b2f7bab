"""What every benchmark does first: Django on a fresh PostgreSQL, migrated, without a Redis cache.

Tasks the measured code queues go to a throwaway Redis broker and are never run
(the benchmarks step the work themselves); Celery has no broker that needs no
server any more (docs/decisions.md, issue 13).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path


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


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def kubesim_scale(pods: int, kubeconfig: Path) -> subprocess.Popen:
    """bench/kubesim_scale.py in a process of its own, serving once this returns."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("kubesim_scale.py")), "--pods", str(pods),
         "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "ready"
    return process


def results_write(name: str, figures: dict) -> None:
    """Print the figures and keep them in bench/results/<name>.json (not committed)."""
    import json

    print(json.dumps(figures, indent=2))
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2))

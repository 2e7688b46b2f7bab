"""Benchmark: server time and SQL queries for /learn/ and a lesson page.

Runs against a real PostgreSQL started like the tests start it, with the whole
curriculum from content/ loaded, then again with 100 extra lessons and 200
extra users, to show that query counts do not grow. Prints a table and writes
bench/results/learn_pages.json. Usage: make bench (or python bench/learn_pages.py).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import django_on  # noqa: E402
from tests.harness.servers import PostgresServer  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))


def measure(client, url: str, n: int, headers: dict | None = None) -> dict:
    """Median and p95 server time of `n` GETs, and the queries of one (bench/api.py uses it too)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    client.get(url, headers=headers)  # warm caches and record progress once
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    queries = len(ctx.captured_queries)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        reset_queries()
    times.sort()
    return {
        "url": url,
        "requests": n,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * len(times)) - 1], 2),
        "queries": queries,
    }


def grow(extra_lessons: int, extra_users: int, learner) -> None:
    from apps.accounts.models import Membership, Team
    from apps.lessons.models import Lesson, Phase, Progress
    from tests.factories import quiz_lesson

    phase = Phase.objects.create(order=99, slug="bench-extra", title="Bench extra", summary="x")
    for i in range(extra_lessons):
        quiz_lesson(questions=4, phase=phase, slug=f"bench-{i}", title=f"Bench lesson {i}")
    team = Team.objects.get(slug="bench")
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = User.objects.bulk_create(User(username=f"bench-user-{i}") for i in range(extra_users))
    Membership.objects.bulk_create(Membership(user=u, team=team) for u in users)
    lessons = list(Lesson.objects.all()[:30])
    Progress.objects.bulk_create(
        Progress(user=u, lesson=lesson, status="completed") for u in users for lesson in lessons
    )


def main() -> None:
    postgres = PostgresServer(dbname="shirube_bench").start()
    try:
        django_on(postgres.url, "/tmp/shirube-bench-var")
        from django.conf import settings

        settings.DEBUG = False
        from django.core.management import call_command
        from django.test import Client

        with open(os.devnull, "w") as devnull:
            call_command("load_content", verbosity=0, stdout=devnull, stderr=devnull)
        from apps.accounts.models import Membership, Team
        from apps.accounts.services import user_ensure
        from apps.lessons.models import Lesson

        team = Team.objects.create(slug="bench", name="Bench")
        learner = user_ensure(username="learner", password="x")
        Membership.objects.create(user=learner, team=team, role="lead")
        client = Client()
        client.force_login(learner)
        lesson = Lesson.objects.visible().select_related("phase").order_by("phase__order", "order")[5]
        urls = ["/learn/", f"/learn/{lesson.phase.slug}/{lesson.slug}/", "/learn/teams/"]

        results = {"curriculum": [], "grown": []}
        count = Lesson.objects.count()
        for url in urls:
            results["curriculum"].append(measure(client, url, REQUESTS))
        grow(100, 200, learner)
        for url in urls:
            results["grown"].append(measure(client, url, REQUESTS))
        grown_count = Lesson.objects.count()

        print(f"{'page':45} {'lessons':>7} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for label, lessons in (("curriculum", count), ("grown", grown_count)):
            for row in results[label]:
                print(
                    f"{row['url']:45} {lessons:>7} {row['median_ms']:>10} {row['p95_ms']:>8} "
                    f"{row['queries']:>8}"
                )
        out = ROOT / "bench/results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "learn_pages.json").write_text(json.dumps(results, indent=2))
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()

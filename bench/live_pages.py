"""Benchmark: a change in the cluster -> visible on an open team page, in the browser.

Run with pytest (it borrows the browser tests' fixtures: headless Chromium, the live server,
kubesim, the real kube-apiserver):

    .venv/bin/python -m pytest bench/live_pages.py -p tests.conftest -p no:cacheprovider -s   # both servers
    .venv/bin/python -m pytest bench/live_pages.py -p tests.conftest -p no:cacheprovider -s -k kubesim

A watch session runs in a thread; the page is open as a team member. BENCH_CHANGES (default
20) times, the deployment is scaled through the API and the time until the page's text says
so is taken in the browser (Playwright waits on animation frames). Prints p50/p95/max and
writes bench/results/live_pages_<server>.json. Nothing is asserted about the figures.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest

from bench.common import results_write
from tests.browser.conftest import cluster, sim  # noqa: F401
from tests.clusters.test_watch import Running
from tests.factories import MembershipFactory, UserFactory
from tests.realkube.conftest import real_kube  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

CHANGES = int(os.environ.get("BENCH_CHANGES", "20"))
ROOT = Path(__file__).resolve().parents[1]


def measure(tab, url: str, scale, workload: str) -> list[float]:
    tab.goto(url)
    tab.wait_for_selector('[data-live-state="live"]', timeout=30_000)
    took = []
    for i in range(CHANGES):
        replicas = 4 + i % 2 * 3 + i  # a new count each time
        began = time.monotonic()
        scale(replicas)
        tab.wait_for_function(
            "([name, n]) => [...document.querySelectorAll('#live .workload')].some("
            "(w) => w.textContent.includes(name) && w.textContent.includes('/' + n + ' ready'))",
            arg=[workload, replicas], polling="raf", timeout=30_000,
        )  # fmt: skip
        took.append(time.monotonic() - began)
        time.sleep(1.5)  # apart, as separate changes are (a burst is paced at one update a second)
    return took


def report(server: str, took: list[float]) -> None:
    took = sorted(took)
    figures = {
        "server": server, "changes": len(took),
        "p50_ms": round(1000 * statistics.median(took)),
        "p95_ms": round(1000 * took[max(0, int(len(took) * 0.95) - 1)]),
        "max_ms": round(1000 * took[-1]),
    }  # fmt: skip
    results_write(f"live_pages_{server}", figures)


def member(slug: str):
    from apps.accounts.services import team_ensure

    team = team_ensure(slug=slug, name=slug.title())
    return MembershipFactory(team=team, user=UserFactory()).user


def test_kubesim(live_server, page, login, sim, cluster):  # noqa: F811
    session = Running(cluster, seconds=600)
    session.wait_watching(cluster)
    login(page, member("payments"))

    def scale(n):
        sim.store.update(
            "deployments.apps", "payments", "checkout-api", lambda d: d["spec"].update(replicas=n)
        )

    took = measure(page, f"{live_server.url}/teams/payments/", scale, "checkout-api")
    session.stop()
    report("kubesim", took)


def test_real_kube_apiserver(live_server, page, login, real_kube):  # noqa: F811
    from tests.realkube.test_watch_both_servers import patch, seeded_cluster

    cluster_, api, suffix = seeded_cluster(real_kube, "real")
    user = member("payments")
    session = Running(cluster_, seconds=600)
    session.wait_watching(cluster_)
    login(page, user)

    def scale(n):
        patch(
            api,
            f"/apis/apps/v1/namespaces/payments-{suffix}/deployments/checkout-api",
            {"spec": {"replicas": n}},
        )

    took = measure(page, f"{live_server.url}/teams/payments/", scale, "checkout-api")
    session.stop()
    report("real-kube-apiserver", took)

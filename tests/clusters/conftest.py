"""A Kubernetes API over HTTP (kubesim), seeded with the demo, and a Cluster row pointing at it."""

from __future__ import annotations

import time

import pytest

from kubesim.demo import seed_demo
from kubesim.server import Simulator
from kubesim.store import Store

# Seeding the demo builds some 500 objects (20-30 ms of CPU, for some 260 tests); a copy of a
# seeded store shares them and takes well under a millisecond. The seed's timestamps are "now"
# (crash loops, last restarts, creation times), so a seed is used for a minute at most.
DEMO_SEED_LIFETIME = 60.0
_demo_seed: dict = {"store": None, "at": 0.0}


def demo_store() -> Store:
    """A store holding the demo as seed_demo makes it, for one test to change as it likes."""
    if _demo_seed["store"] is None or time.monotonic() - _demo_seed["at"] > DEMO_SEED_LIFETIME:
        store = Store()
        seed_demo(store)
        _demo_seed.update(store=store, at=time.monotonic())
    return _demo_seed["store"].copy()


@pytest.fixture
def sim():
    with Simulator(demo_store(), token="test-token") as simulator:
        yield simulator


@pytest.fixture
def teams(db):
    from apps.accounts.services import team_ensure

    return {
        "payments": team_ensure(slug="payments", name="Payments"),
        "search": team_ensure(slug="search", name="Search"),
    }


@pytest.fixture
def cluster(db, sim, tmp_path, teams):
    from apps.clusters.services import cluster_declare

    path = sim.write_kubeconfig(tmp_path / "kubeconfig")
    cluster, _ = cluster_declare(
        name="demo", connection="kubeconfig", kubeconfig_path=str(path), context="demo"
    )
    return cluster


@pytest.fixture
def synced(cluster):
    """The demo cluster, synced once."""
    from apps.clusters import sync

    sync.cluster_sync(cluster=cluster)
    return cluster


@pytest.fixture
def alice(teams):
    """A developer in payments."""
    from tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(team=teams["payments"], user=UserFactory(username="alice")).user

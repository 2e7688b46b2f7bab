"""A Kubernetes API over HTTP (kubesim), seeded with the demo, and a Cluster row pointing at it."""

from __future__ import annotations

import pytest

from kubesim.demo import seed_demo
from kubesim.server import Simulator
from kubesim.store import Store


@pytest.fixture
def sim():
    store = Store()
    seed_demo(store)
    with Simulator(store, token="test-token") as simulator:
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

# The cluster fixtures (kubesim over HTTP, the demo teams), for the readiness trend backfill.
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401

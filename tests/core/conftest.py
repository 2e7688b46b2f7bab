# The cluster and environment fixtures, for the tests that drive every form (test_hostile_input.py).
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401
from tests.environments.envfixtures import envs, flux_phase, people  # noqa: F401

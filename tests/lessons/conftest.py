# The environment fixtures, for the quiz of a lesson that gates a production environment.
from tests.clusters.conftest import cluster, sim, teams  # noqa: F401
from tests.environments.envfixtures import envs, flux_phase, people  # noqa: F401

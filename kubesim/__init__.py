"""kubesim: a small Kubernetes-API-compatible server for the demo and the tests.

with Simulator(token="t") as sim:
    seed_demo(sim.store)
    sim.write_kubeconfig(tmp_path / "kubeconfig")
"""

from kubesim.server import Simulator
from kubesim.store import Store

__all__ = ["Simulator", "Store"]

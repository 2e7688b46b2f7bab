"""kubesim: a small Kubernetes-API-compatible server for the demo and the tests.

with Simulator(token="t") as sim:
    seed_demo(sim.store)
    sim.write_kubeconfig(tmp_path / "kubeconfig")
"""

from kubesim.faults import Fault
from kubesim.kubeconfig import write_kubeconfig
from kubesim.resources import Registry, Resource, default_registry
from kubesim.server import Simulator
from kubesim.store import Store

__all__ = [
    "Fault",
    "Registry",
    "Resource",
    "Simulator",
    "Store",
    "default_registry",
    "write_kubeconfig",
]

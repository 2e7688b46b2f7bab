"""Run the simulator from the command line (the demo cluster behind `make run`).

python -m kubesim --port 6444 --seed demo --evolve-every 5 --kubeconfig PATH
python -m kubesim ... --gitops-repo var/demo-gitops.git   # Flux applies what is pushed there
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from kubesim.automation import ImageAutomationPlayer
from kubesim.demo import evolve, flux_step, seed_demo
from kubesim.demo_repo import demo_repo_init
from kubesim.gitops import GitOpsPlayer
from kubesim.scale import seed_scale
from kubesim.server import Simulator

log = logging.getLogger("kubesim")
# The demo's GitRepository (kubesim.flux), the one `--gitops-repo` plays Flux for.
GITOPS_SOURCE = "flux-system/gitops"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubesim", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6444, help="0 picks a free port")
    parser.add_argument("--seed", choices=("demo", "scale"), default="demo")
    parser.add_argument(
        "--evolve-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="advance the demo every SECONDS (0 to keep it still)",
    )
    parser.add_argument("--kubeconfig", default=None, metavar="PATH", help="write a kubeconfig here")
    parser.add_argument(
        "--gitops-repo",
        default=None,
        metavar="PATH",
        help=f"play Flux for the GitRepository {GITOPS_SOURCE} from the bare repository at PATH, "
        "created with the demo tree if absent",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    sim = Simulator(port=args.port)
    if args.seed == "demo":
        seed_demo(sim.store)
    else:
        seed_scale(sim.store)

    # Flux for the demo repository: source- and kustomize-controller, and image automation.
    gitops = automation = None
    if args.gitops_repo:
        if demo_repo_init(args.gitops_repo):
            log.info("created the demo GitOps repository %s for %s", args.gitops_repo, GITOPS_SOURCE)
        repos, step = {GITOPS_SOURCE: args.gitops_repo}, args.evolve_every or 5.0
        gitops = GitOpsPlayer(sim.store, repos, step_seconds=step)
        automation = ImageAutomationPlayer(sim.store, repos, step_seconds=step)
        flux_step(gitops, automation)  # as the controllers do on start: all reconciled once

    stop = threading.Event()
    # SIGTERM (honcho, docker) and SIGINT (Ctrl-C) both end the run cleanly.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    sim.start()
    if args.kubeconfig:
        sim.write_kubeconfig(args.kubeconfig)
    print(f"kubesim listening on {sim.url}", flush=True)

    tick = 0
    interval = args.evolve_every if args.seed == "demo" and args.evolve_every > 0 else None
    try:
        while not stop.wait(interval):
            tick += 1
            try:
                evolve(sim.store, tick, gitops, automation)
            except Exception:
                # A broken step must not take the demo cluster down with it.
                log.exception("evolve step %d failed", tick)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the simulator from the command line (the demo cluster behind `make run`).

python -m kubesim --port 6444 --seed demo --evolve-every 5 --token TOKEN --kubeconfig PATH
python -m kubesim ... --gitops-repo var/demo-gitops.git   # Flux applies what is pushed there
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from kubesim.demo import evolve, seed_demo, seed_scale
from kubesim.gitrepo import GitOpsPlayer, demo_repo_init
from kubesim.server import Simulator

log = logging.getLogger("kubesim")
DEFAULT_GITOPS_SOURCE = "flux-system/gitops"


def gitops_repo(value: str) -> tuple[str, str]:
    """`NAMESPACE/NAME=PATH` or `PATH` (for flux-system/gitops) -> (source, path)."""
    source, sep, path = value.partition("=")
    if sep and source.count("/") == 1 and all(source.split("/")):
        return source, path
    if sep and "/" not in source:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME=PATH, got {value!r}")
    return DEFAULT_GITOPS_SOURCE, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubesim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6444, help="0 picks a free port")
    parser.add_argument("--seed", choices=("demo", "scale", "none"), default="demo")
    parser.add_argument(
        "--evolve-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="advance the demo every SECONDS (0 to keep it still)",
    )
    parser.add_argument("--token", default=None, help="bearer token required on every request")
    parser.add_argument("--kubeconfig", default=None, metavar="PATH", help="write a kubeconfig here")
    parser.add_argument("--context", default="demo", help="context name in the kubeconfig")
    parser.add_argument(
        "--gitops-repo",
        type=gitops_repo,
        action="append",
        default=[],
        metavar="[NAMESPACE/NAME=]PATH",
        help="play Flux for this GitRepository (default flux-system/gitops) from the bare "
        "repository at PATH, created with the demo tree if absent; repeatable",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    sim = Simulator(host=args.host, port=args.port, token=args.token)
    if args.seed == "demo":
        seed_demo(sim.store)
    elif args.seed == "scale":
        seed_scale(sim.store)

    gitops = None
    if args.gitops_repo:
        for source, path in args.gitops_repo:
            if demo_repo_init(path):
                log.info("created the demo GitOps repository %s for %s", path, source)
        gitops = GitOpsPlayer(
            sim.store, dict(args.gitops_repo), step_seconds=args.evolve_every or 5.0, automation=True
        )
        gitops.step()  # as the controllers do on start: sources resolved, Kustomizations applied

    stop = threading.Event()
    # SIGTERM (honcho, docker) and SIGINT (Ctrl-C) both end the run cleanly.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    sim.start()
    if args.kubeconfig:
        sim.write_kubeconfig(args.kubeconfig, context=args.context)
    print(f"kubesim listening on {sim.url}", flush=True)

    tick = 0
    interval = args.evolve_every if args.seed == "demo" and args.evolve_every > 0 else None
    try:
        while not stop.wait(interval):
            tick += 1
            try:
                evolve(sim.store, tick, gitops)
            except Exception:
                # A broken step must not take the demo cluster down with it.
                log.exception("evolve step %d failed", tick)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A kubesim of a given size in a process of its own, for the watch benchmarks.

    python bench/kubesim_scale.py --pods 1000 --kubeconfig PATH

Prints "ready" once it serves. SIGUSR1 changes every pod once (a label), as a burst of
rollouts would; the benchmark then waits for the portal's rows to follow.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubesim.scale import seed_scale  # noqa: E402
from kubesim.server import Simulator  # noqa: E402
from kubesim.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--kubeconfig", required=True)
    args = parser.parse_args()
    store = Store()
    seed_scale(store, pods=args.pods, namespaces=max(1, args.pods // 20), deployments=max(1, args.pods // 5))
    burst = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: burst.set())
    with Simulator(store, token="bench") as sim:
        sim.write_kubeconfig(args.kubeconfig)
        print("ready", flush=True)
        round_ = 0
        while True:
            burst.wait()
            burst.clear()
            round_ += 1
            for pod in store.list("pods"):
                meta = pod["metadata"]
                store.update(
                    "pods", meta["namespace"], meta["name"],
                    lambda p, r=round_: p["metadata"].setdefault("labels", {}).update(burst=str(r)),
                )  # fmt: skip
            print(f"burst {round_} done", flush=True)


if __name__ == "__main__":
    main()

"""Soak a running `make run` demo: what a team does for an hour, with errors, latencies and memory.

    python scripts/soak.py [--minutes 60] [--url http://127.0.0.1:8000] [--report soak.json]

Loopback only, bounded in time. In cycles until the time is up, as the demo
users: every page a developer, a lead and an SRE open (and the team page's
5-second refresh, as an open tab does); a deploy to staging (alice), a
promotion to production with an approval (sre asks, carol approves, sre
promotes), a rollback of staging (alice), and Flux actions (reconcile, suspend
and resume). It records every HTTP error and latency, each deployment's and
action's outcome and duration, and from scripts/supervisor.py's status file the
restarts and the memory (RSS of each process and its children) of web, worker,
beat, kube and redis. Prints a summary; exits 1 on any error, failed
deployment or action, process restart, or memory growth beyond the limit.
Not part of `make test`: it takes as long as you give it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PASSWORD = "shirube-demo"
TEAM = "payments"
STAGING = f"/teams/{TEAM}/environments/checkout-api-staging/"
PRODUCTION = f"/teams/{TEAM}/environments/checkout-api-production/"
FLUX = f"/teams/{TEAM}/flux/"
# Tags the demo registry holds (kubesim/flux.py); the soak deploys them in turn.
TAGS = [
    "feature-x-3f2a1c9-1732600000",
    "v2.15.0-rc.2",
    "feature-x-8d41b7e-1764146000",
    "main-9e8d7c6-1764140000",
]
FINISHED = {"healthy", "done", "failed"}
ACTION_FINISHED = {"succeeded", "failed", "timed_out"}
# How the Flux page names each action in its status line ("Suspend by alice: Done").
ACTION_LABELS = {"reconcile": "Reconcile now", "suspend": "Suspend", "resume": "Resume"}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class SoakError(Exception):
    """A step could not go on (its error is already recorded)."""


@dataclass
class Record:
    """Everything the soak saw; shared by the driver and the tab that refreshes."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[dict] = field(default_factory=list)
    outcomes: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    memory: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    restarts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str, detail: str) -> None:
        with self.lock:
            self.errors.append({"at": time.strftime("%H:%M:%S"), "what": what, "detail": detail[:500]})
        print(f"  ERROR {what}: {detail[:300]}", flush=True)

    def latency(self, label: str, seconds: float) -> None:
        with self.lock:
            self.latencies[label].append(seconds)

    def outcome(self, kind: str, **values) -> None:
        with self.lock:
            self.outcomes[kind].append(values)


class User:
    """One demo user's browser: a session, CSRF tokens from the pages it opens, timings recorded."""

    def __init__(self, base: str, name: str, record: Record) -> None:
        self.base, self.name, self.record = base, name, record
        self.session = requests.Session()
        self.login()

    def login(self) -> None:
        page = self.session.get(f"{self.base}/accounts/login/", timeout=30)
        token = csrf(page.text)
        response = self.session.post(
            f"{self.base}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": self.name, "password": PASSWORD, "next": ""},
            timeout=30, allow_redirects=False,
        )  # fmt: skip
        if response.status_code != 302:
            raise SystemExit(f"{self.name} cannot log in (HTTP {response.status_code}): is this the demo?")

    def get(self, path: str, *, htmx: bool = False) -> str:
        return self._call("GET", path, headers={"HX-Request": "true"} if htmx else {})

    def post(self, path: str, data: dict, *, form_page: str) -> str:
        """Submit a form the way a browser does: open its page for the CSRF token, then post."""
        token = csrf(self.get(form_page))
        return self._call("POST", path, data={"csrfmiddlewaretoken": token, **data})

    def _call(self, method: str, path: str, *, headers: dict | None = None, data: dict | None = None) -> str:
        label = f"{method} {route(path)}{' (htmx)' if headers else ''}"
        began = time.monotonic()
        try:
            response = self.session.request(
                method, f"{self.base}{path}", timeout=60, headers=headers, data=data
            )
        except requests.RequestException as exc:
            self.record.error(label, f"{self.name}: {type(exc).__name__}: {exc}")
            raise SoakError(label) from exc
        self.record.latency(label, time.monotonic() - began)
        if response.url.split("?")[0].endswith("/accounts/login/") and "/accounts/login/" not in path:
            self.record.error(label, f"{self.name} was logged out")
            self.login()
            raise SoakError(label)
        if response.status_code != 200:
            message = re.search(r'class="message error"[^>]*>([^<]+)<', response.text)
            detail = message[1] if message else response.text[:200]
            self.record.error(label, f"{self.name}: HTTP {response.status_code}: {detail}")
            raise SoakError(label)
        return response.text


ROUTES = [
    (r"^/teams/[^/]+/", "/teams/<team>/"),
    (r"/environments/[^/]+/", "/environments/<env>/"),
    (r"/approvals/\d+/", "/approvals/<id>/"),
    (r"/pods/.+/$", "/pods/<pod>/"),
    (r"/workloads/.+/$", "/workloads/<workload>/"),
    (r"/flux/[^/]+/[^/]+/[^/]+/[^/]+/(\w+)/$", r"/flux/<object>/\1/"),
    (r"^/learn/(?!progress/|search/|teams/)[^/]+/[^/]+/$", "/learn/<phase>/<lesson>/"),
    (r"\?.*$", ""),
]


def route(path: str) -> str:
    """The URL pattern a path belongs to, so that latencies add up per page, not per object."""
    for pattern, replacement in ROUTES:
        path = re.sub(pattern, replacement, path)
    return path


def csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not match:
        raise SoakError("no CSRF token on the page")
    return match[1]


# -- what people do -----------------------------------------------------------------


def browse(users: dict[str, User], cycle: int) -> None:
    """The pages each demo user opens in a working day."""
    everyone = [
        "/learn/", "/learn/progress/", "/learn/search/?q=probes", "/teams/", f"/teams/{TEAM}/",
        "/teams/search/", FLUX, f"/teams/{TEAM}/environments/", STAGING, PRODUCTION,
        f"/teams/{TEAM}/readiness/",
    ]  # fmt: skip
    extra = {"carol": ["/learn/teams/"], "sre": ["/readiness/", "/admin/"]}
    for name, user in users.items():
        for path in everyone + extra.get(name, []):
            try:
                page = user.get(path)
            except SoakError:
                continue
            if path == "/learn/":
                lessons = sorted(set(re.findall(r'href="(/learn/[a-z0-9-]+/[a-z0-9-]+/)"', page)))
                if lessons:
                    _quietly(user.get, lessons[(cycle + len(name)) % len(lessons)])
            if path == f"/teams/{TEAM}/":
                for kind in ("pods", "workloads"):
                    links = sorted(set(re.findall(rf'href="(/teams/{TEAM}/{kind}/[^"]+/)"', page)))
                    if links:
                        _quietly(user.get, links[cycle % len(links)])


def _quietly(call, *args) -> None:
    with contextlib.suppress(SoakError):  # recorded already
        call(*args)


def newest_deployment(page: str) -> tuple[str, str]:
    """(status, row text) of the newest row in an environment's deployment history."""
    match = re.search(r'<tr class="deployment-(\w+)">(.*?)</tr>', page, re.S)
    if not match:
        return "", ""
    return match[1], re.sub(r"<[^>]+>", " ", match[2])


def git_tag(page: str) -> str:
    match = re.search(r'data-testid="git-tag">([^<]+)<', page)
    return match[1] if match else ""


def change(user: User, record: Record, env_path: str, kind: str, tag: str = "", timeout: float = 420) -> str:
    """Ask for a deployment of `kind` and follow it to its end; the tag it ended on."""
    before = newest_deployment(user.get(env_path))
    data = {"kind": kind, "tag": tag, "idempotency_key": uuid.uuid4().hex}
    began = time.monotonic()
    page = user.post(f"{env_path}deployments/", data, form_page=env_path)
    status, row = newest_deployment(page)
    while (status, row) == before or status not in FINISHED:
        if time.monotonic() - began > timeout:
            record.error(f"{kind} {tag}", f"not finished after {timeout:g} s (last: {status} {row.split()})")
            record.outcome(kind, tag=tag, status="timeout", seconds=timeout)
            raise SoakError(kind)
        time.sleep(3)
        status, row = newest_deployment(user.get(env_path))
    seconds = round(time.monotonic() - began, 1)
    ended_on = git_tag(user.get(env_path))
    record.outcome(kind, tag=tag or ended_on, status=status, seconds=seconds)
    print(f"  {user.name}: {kind} {tag or ended_on}: {status} in {seconds:g} s", flush=True)
    if status == "failed":
        record.error(f"{kind} {tag}", " ".join(row.split())[:300])
        raise SoakError(kind)
    return ended_on


def promote_with_approval(users: dict[str, User], record: Record, tag: str) -> None:
    """sre asks, carol (lead of payments) approves, sre promotes what staging runs healthy."""
    sre, carol = users["sre"], users["carol"]
    deadline = time.monotonic() + 120
    # Promotion takes the tag staging runs healthy by the last sync (every 15 s).
    while f"runs <code>{tag}</code> healthy" not in sre.get(PRODUCTION):
        if time.monotonic() > deadline:
            record.error(f"promote {tag}", "production never offered it as staging's healthy tag")
            raise SoakError("promote")
        time.sleep(3)
    sre.post(
        f"{PRODUCTION}approvals/",
        {"tag": tag, "reason": "soak: promote what staging runs"},
        form_page=PRODUCTION,
    )
    page = carol.get(PRODUCTION)
    approvals = re.findall(
        rf'action="({re.escape(PRODUCTION)}approvals/\d+/approve/)"[^>]*>.*?Approve ([^<]+)<', page
    )
    target = next((path for path, approved_tag in approvals if approved_tag.strip() == tag), None)
    if target is None:
        record.error(f"approve {tag}", "carol is not offered an approval for it")
        raise SoakError("approve")
    carol.post(target, {}, form_page=PRODUCTION)
    record.outcome("approval", tag=tag, status="approved")
    change(sre, record, PRODUCTION, "promote", tag)


def flux_action(user: User, record: Record, kind: str, namespace: str, name: str, action: str) -> None:
    """One Flux action from the team's Flux page, followed until Flux acknowledged it (or it failed)."""
    path = f"{FLUX}demo/{namespace}/{kind}/{name}/{action}/"
    node = f'id="flux-{kind.lower()}-{namespace}-{name}"'
    data = {"reason": "soak: checking suspend and resume"} if action == "suspend" else {}
    began = time.monotonic()
    user.post(path, data, form_page=FLUX)
    while True:
        page = user.get(FLUX)
        section = page.split(node, 1)[1].split('<li class="flux-node"', 1)[0] if node in page else ""
        match = re.search(r'flux-action-status status-(\w+)"[^>]*>([^<]*)', section)
        status = match[1] if match else ""
        if status in ACTION_FINISHED and match[2].startswith(f"{ACTION_LABELS[action]} by"):
            break
        if time.monotonic() - began > 240:
            record.error(f"flux {action} {kind}/{name}", f"no outcome after 240 s (last: {status or 'none'})")
            record.outcome(f"flux {action}", status="timeout", seconds=240)
            raise SoakError(action)
        time.sleep(2)
    seconds = round(time.monotonic() - began, 1)
    record.outcome(f"flux {action}", object=f"{kind}/{namespace}/{name}", status=status, seconds=seconds)
    print(f"  {user.name}: {action} {kind} {namespace}/{name}: {status} in {seconds:g} s", flush=True)
    if status != "succeeded":
        record.error(f"flux {action} {kind}/{name}", status)


def cycle(users: dict[str, User], record: Record, number: int) -> None:
    browse(users, number)
    alice = users["alice"]
    current = git_tag(alice.get(STAGING))
    tag = next(t for t in TAGS[number % len(TAGS) :] + TAGS if t != current)
    with contextlib.suppress(SoakError):  # recorded; what needs the deploy waits for the next cycle
        change(alice, record, STAGING, "deploy", tag)
        promote_with_approval(users, record, tag)
    for step in (
        lambda: change(alice, record, STAGING, "rollback"),
        lambda: flux_action(alice, record, "Kustomization", "flux-system", "payments-staging", "reconcile"),
        lambda: flux_action(alice, record, "HelmRelease", TEAM, "payments-cache", "suspend"),
        lambda: flux_action(alice, record, "HelmRelease", TEAM, "payments-cache", "resume"),
    ):
        with contextlib.suppress(SoakError):
            step()


# -- the processes ------------------------------------------------------------------


def group_rss(pgid: int) -> int:
    """Resident memory of every process in the group (a worker and its pool, runserver and its child)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                total += int((entry / "statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return total


def sample(status_path: Path, record: Record, baseline: dict[str, int]) -> None:
    try:
        processes = json.loads(status_path.read_text())["processes"]
    except (OSError, ValueError, KeyError):
        record.error("process status", f"cannot read {status_path}")
        return
    now = time.time()
    with record.lock:
        for name, entry in processes.items():
            baseline.setdefault(name, entry["restarts"])
            record.restarts[name] = entry["restarts"] - baseline[name]
            if entry.get("running") and entry.get("pid"):
                record.memory[name].append((now, group_rss(entry["pid"])))


def watch(users_base: str, record: Record, stop: threading.Event, status_path: Path) -> None:
    """An open tab on the team page (htmx refresh every 5 s), and the process sampler every 30 s."""
    bob = User(users_base, "bob", record)
    baseline: dict[str, int] = {}
    last_sample = 0.0
    while not stop.is_set():
        _quietly(lambda: bob.get("/teams/search/", htmx=True))
        if time.monotonic() - last_sample >= 30:
            sample(status_path, record, baseline)
            last_sample = time.monotonic()
        stop.wait(5)
    sample(status_path, record, baseline)


# -- the report ---------------------------------------------------------------------


def summary(
    record: Record, *, minutes: float, cycles: int, max_growth_mb: float
) -> tuple[list[str], list[str]]:
    lines, failures = [], []
    requests_made = sum(len(v) for v in record.latencies.values())
    lines.append(f"{minutes:.1f} min, {cycles} cycles, {requests_made} requests, {len(record.errors)} errors")
    lines.append(f"{'request':64} {'n':>6} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for label, values in sorted(record.latencies.items()):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        lines.append(
            f"{label[:64]:64} {len(values):6} {statistics.median(values) * 1000:7.0f} {p95 * 1000:7.0f} "
            f"{ordered[-1] * 1000:7.0f}"
        )
    for kind, outcomes in sorted(record.outcomes.items()):
        by_status = defaultdict(int)
        for outcome in outcomes:
            by_status[outcome["status"]] += 1
        durations = [o["seconds"] for o in outcomes if "seconds" in o]
        timing = f", median {statistics.median(durations):g} s, max {max(durations):g} s" if durations else ""
        lines.append(
            f"{kind}: {len(outcomes)} ({', '.join(f'{k} {v}' for k, v in sorted(by_status.items()))}){timing}"
        )
        bad = sum(v for k, v in by_status.items() if k not in {"healthy", "done", "succeeded", "approved"})
        if bad:
            failures.append(f"{bad} {kind} did not succeed")
    lines.append(f"{'process':8} {'restarts':>8} {'RSS first MB':>13} {'last MB':>8} {'max MB':>7}")
    for name in sorted(set(record.memory) | set(record.restarts)):
        samples = [rss for _, rss in record.memory.get(name, [])]
        first, last, peak = (samples[0], samples[-1], max(samples)) if samples else (0, 0, 0)
        restarts = record.restarts.get(name, 0)
        lines.append(f"{name:8} {restarts:8} {first / 2**20:13.0f} {last / 2**20:8.0f} {peak / 2**20:7.0f}")
        if restarts:
            failures.append(f"{name} restarted {restarts} time(s)")
        if samples and (last - first) / 2**20 > max_growth_mb:
            failures.append(f"{name} grew by {(last - first) / 2**20:.0f} MB (limit {max_growth_mb:g})")
    if record.errors:
        failures.append(f"{len(record.errors)} error(s)")
        lines.append("errors:")
        lines.extend(f"  {e['at']} {e['what']}: {e['detail'][:200]}" for e in record.errors[:50])
    if not record.memory:
        failures.append("no process status: is scripts/supervisor.py's status file where --status says?")
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running demo (loopback only)")
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to drive it (default 60)")
    var_dir = Path(os.environ.get("SHIRUBE_VAR_DIR") or ROOT / "var")
    parser.add_argument("--status", type=Path, default=var_dir / "run" / "supervisor.json")
    parser.add_argument("--max-rss-growth-mb", type=float, default=150.0, help="per process, first to last")
    parser.add_argument("--report", type=Path, default=None, help="also write the whole record as JSON")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    if urlsplit(base).hostname not in LOOPBACK:
        parser.error(f"{base} is not on loopback: the soak only drives a local demo")
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    try:
        requests.get(f"{base}/healthz", timeout=10).raise_for_status()
    except requests.RequestException as exc:
        print(f"No demo answers on {base} ({exc}); start it with `make run`.", file=sys.stderr)
        return 2

    record = Record()
    users = {name: User(base, name, record) for name in ("alice", "bob", "carol", "sre")}
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(base, record, stop, args.status), daemon=True)
    watcher.start()
    began = time.monotonic()
    deadline = began + args.minutes * 60
    cycles = 0
    print(f"Soaking {base} for {args.minutes:g} min", flush=True)
    try:
        while time.monotonic() < deadline:
            cycles += 1
            print(f"cycle {cycles} ({(time.monotonic() - began) / 60:.1f} min)", flush=True)
            cycle(users, record, cycles)
    except KeyboardInterrupt:
        print("interrupted: reporting what ran", flush=True)
    stop.set()
    watcher.join(timeout=60)

    lines, failures = summary(
        record, minutes=(time.monotonic() - began) / 60, cycles=cycles, max_growth_mb=args.max_rss_growth_mb
    )
    print("\n".join(["", "Soak summary", *lines]))
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    if args.report:
        args.report.write_text(
            json.dumps(
                {
                    "url": base, "cycles": cycles, "failures": failures, "errors": record.errors,
                    "latencies_ms": {k: [round(v * 1000) for v in vs] for k, vs in record.latencies.items()},
                    "outcomes": record.outcomes, "restarts": record.restarts,
                    "rss_bytes": {k: v for k, v in record.memory.items()},
                },
                indent=1,
            )
        )  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

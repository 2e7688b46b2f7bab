"""scripts/soak.py's own rules: loopback only, and what counts as a failed soak."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "scripts" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("shirube_soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "url", ["http://example.com:8000", "http://10.0.0.5:8000", "https://shirube.example"]
)
def test_it_refuses_anything_but_loopback(url):
    result = run("--url", url, "--minutes", "1")
    assert result.returncode == 2 and "not on loopback" in result.stderr


def test_it_says_when_no_demo_answers():
    result = run("--url", f"http://127.0.0.1:{free_port()}", "--minutes", "1")
    assert result.returncode == 2 and "start it with `make run`" in result.stderr


def test_latencies_add_up_per_page_not_per_object(soak):
    assert soak.route("/teams/payments/environments/checkout-api-staging/deployments/") == (
        "/teams/<team>/environments/<env>/deployments/"
    )
    assert soak.route("/teams/payments/flux/demo/payments/HelmRelease/cache/suspend/") == (
        "/teams/<team>/flux/<object>/suspend/"
    )
    assert soak.route("/learn/flux/helmreleases/") == "/learn/<phase>/<lesson>/"
    assert soak.route("/learn/search/?q=probes") == "/learn/search/"
    assert soak.route("/learn/progress/") == "/learn/progress/"


def clean_record(soak):
    record = soak.Record()
    record.latency("GET /learn/", 0.05)
    record.outcome("deploy", tag="v1", status="healthy", seconds=20)
    record.outcome("flux suspend", status="succeeded", seconds=1)
    record.restarts.update(web=0, worker=0)
    record.memory["web"] = [(0, 100 * 2**20), (60, 120 * 2**20)]
    record.memory["worker"] = [(0, 200 * 2**20), (60, 200 * 2**20)]
    return record


def test_a_clean_soak_passes(soak):
    lines, failures = soak.summary(clean_record(soak), minutes=1, cycles=1, max_growth_mb=150)
    assert failures == []
    assert any(line.startswith("deploy: 1 (healthy 1)") for line in lines)


def test_errors_failed_deploys_restarts_and_growth_fail_the_soak(soak):
    record = clean_record(soak)
    record.error("GET /teams/<team>/", "alice: HTTP 500")
    record.outcome("deploy", tag="v2", status="failed", seconds=30)
    record.outcome("flux resume", status="timeout", seconds=240)
    record.restarts["worker"] = 1
    record.memory["web"].append((120, 400 * 2**20))
    _, failures = soak.summary(record, minutes=1, cycles=1, max_growth_mb=150)
    assert failures == [
        "1 deploy did not succeed",
        "1 flux resume did not succeed",
        "web grew by 300 MB (limit 150)",
        "worker restarted 1 time(s)",
        "1 error(s)",
    ]


def test_a_soak_without_process_status_fails(soak):
    record = clean_record(soak)
    record.memory.clear()
    _, failures = soak.summary(record, minutes=1, cycles=1, max_growth_mb=150)
    assert any("no process status" in failure for failure in failures)

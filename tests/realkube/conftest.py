"""The `real_kube` fixture: a real kube-apiserver + etcd for the session.

Skips (with the reason) when the binaries are not built, except under CI=true,
where a missing real API server is a failure. Build them with
scripts/build-kube-servers.sh; see docs/kube-apiserver.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.kube_apiserver import (
    KubeBinariesMissing,
    RealKubeAPIServer,
    default_flux_crds_dir,
)
from tests.harness.servers import skip_or_fail as _skip_or_fail

_stats: dict = {"nodeids": set(), "ran": 0, "outcomes": {}, "server": None, "skip": None}


def skip_or_fail(reason: str):
    _skip_or_fail(reason, under_ci="a skipped real-API-server test is a failure")


@pytest.fixture(scope="session")
def real_kube():
    try:
        server = RealKubeAPIServer()
    except KubeBinariesMissing as error:
        _stats["skip"] = str(error)
        server = None
    if server is None:
        skip_or_fail(_stats["skip"])
    server.start()
    _stats["server"] = server
    try:
        crds = default_flux_crds_dir()
        if crds is not None:
            server.flux_crds = server.install_crds(crds)
        yield server
    finally:
        server.stop()


_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    # Every test here is a real-apiserver test: marked, so `make test-fast` (-m "not realkube")
    # leaves them out. (This hook sees every collected item, hence the path check.)
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.realkube)
    _stats["nodeids"] = {item.nodeid for item in items if "real_kube" in item.fixturenames}


def pytest_runtest_logreport(report):
    if report.nodeid not in _stats["nodeids"]:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = report.outcome if report.when == "call" or report.skipped else "error"
        _stats["outcomes"][outcome] = _stats["outcomes"].get(outcome, 0) + 1
        if report.when == "call":
            _stats["ran"] += 1


def pytest_terminal_summary(terminalreporter):
    if not _stats["nodeids"]:
        return
    server = _stats["server"]
    if server is not None:
        t = server.timings
        terminalreporter.write_line(
            f"real kube-apiserver {server.kube_version} + etcd {server.etcd_version}: started in "
            f"{t.get('total', 0):.1f} s (etcd {t.get('etcd', 0):.1f} s, kube-apiserver "
            f"{t.get('kube-apiserver', 0):.1f} s); {_stats['ran']} tests ran against it "
            f"{dict(sorted(_stats['outcomes'].items()))}"
        )
    elif _stats["skip"]:
        terminalreporter.write_line(
            f"real kube-apiserver: {len(_stats['nodeids'])} tests not run: {_stats['skip']}"
        )

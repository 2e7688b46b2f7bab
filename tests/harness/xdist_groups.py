"""Under pytest-xdist, the tests of one expensive session server run on one worker.

Keycloak (20-70 s to start) and the real kube-apiserver are session fixtures: on
two workers they would start twice, and tests that share one realm or one API
server's objects are written to run one after another. So every test that uses
one of SESSION_SERVER_GROUPS is scheduled with the others of its group, as a
single unit, on one worker; all other tests are handed out one at a time.

xdist's own `--dist loadgroup` cannot do this on pytest 9.2: it tags grouped
tests by rewriting their node ids, which pytest 9.2's structured ids ignore
(pytest-xdist#1386), so the groups silently vanish. Here each worker writes the
groups it collected to a file in the run's folder before it reports its
collection, and the controller's scheduler reads them: no node id changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# A session fixture whose server takes long to start -> the name of its tests' group.
SESSION_SERVER_GROUPS = {"keycloak": "keycloak", "real_kube": "realkube"}
RUN_DIR = "SHIRUBE_TEST_RUN_DIR"  # set by the controller (tests/harness/plugin.py)


def _groups_file(worker: str) -> Path:
    return Path(os.environ[RUN_DIR]) / f"xdist-groups-{worker}.json"


def group_of(item: pytest.Item) -> str | None:
    names = sorted(
        {group for fixture, group in SESSION_SERVER_GROUPS.items() if fixture in item.fixturenames}
    )
    return "+".join(names) or None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reports the collection to the controller
def pytest_collection_finish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    groups = {item.nodeid: group for item in session.items if (group := group_of(item))}
    _groups_file(worker).write_text(json.dumps(groups))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's default for `--dist loadgroup`
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ServerGroupScheduling(LoadGroupScheduling):
        """loadgroup, with the session-server groups the workers wrote (and `xdist_group` marks)."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first called once every worker has reported its collection
                self.groups = {}
                for path in Path(os.environ[RUN_DIR]).glob("xdist-groups-*.json"):
                    self.groups.update(json.loads(path.read_text()))
            group = self.groups.get(nodeid)
            return f"server:{group}" if group else super()._split_scope(nodeid)

    return ServerGroupScheduling(config, log)

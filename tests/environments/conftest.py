from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# GitOps writer fixtures ------------------------------------------------------
# Real git against bare repositories in tmp_path; the tests' own git commands run
# with a clean configuration like the writer's.

GIT_KUSTOMIZATION_PATH = "apps/payments/staging/kustomization.yaml"

GIT_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: payments-staging
resources:
  - ../base   # shared manifests

images:
  # The public API; Flux's ImageUpdateAutomation keeps it on the latest 1.x.
  - name: ghcr.io/acme/checkout-api
    newTag: 1.4.2 # {"$imagepolicy": "payments:checkout-api:tag"}

  - name: ghcr.io/acme/worker
    newName: registry.acme.test/worker
    newTag: '7'
    digest: sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904  # pinned by ops
  - name: ghcr.io/acme/ledger
    newTag: "2024.06.01"
"""


@pytest.fixture
def git_env() -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": "/nonexistent",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Seed",
        "GIT_AUTHOR_EMAIL": "seed@example.com",
        "GIT_COMMITTER_NAME": "Seed",
        "GIT_COMMITTER_EMAIL": "seed@example.com",
    }


@pytest.fixture
def git_run(git_env):
    """Run git and return its stdout; fails the test on a non-zero exit."""

    def run(*args: str, cwd: Path | str | None = None, input: bytes | None = None) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=git_env, input=input, capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode()

    return run


@pytest.fixture
def git_make_remote(tmp_path, git_run):
    """Create a bare repository whose main branch holds the given files."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes] | None = None) -> Path:
        n = next(counter)
        bare = tmp_path / f"remote{n}.git"
        seed = tmp_path / f"seed{n}"
        git_run("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
        git_run("init", "--quiet", "--initial-branch=main", str(seed))
        for path, content in (files or {GIT_KUSTOMIZATION_PATH: GIT_KUSTOMIZATION}).items():
            target = seed / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        git_run("add", "-A", cwd=seed)
        git_run("commit", "--quiet", "-m", "seed", cwd=seed)
        git_run("push", "--quiet", str(bare), "main", cwd=seed)
        return bare

    return make


@pytest.fixture
def git_remote(git_make_remote) -> Path:
    """A bare repo seeded with apps/payments/staging/kustomization.yaml."""
    return git_make_remote()


@pytest.fixture
def git_remote_file(git_run):
    """The bytes of a file on a bare repository's main branch."""

    def read(bare: Path, path: str = GIT_KUSTOMIZATION_PATH) -> bytes:
        proc = subprocess.run(
            ["git", f"--git-dir={bare}", "show", f"main:{path}"], capture_output=True, check=True
        )
        return proc.stdout

    return read


@pytest.fixture
def git_head(git_run):
    def head(bare: Path) -> str:
        return git_run(f"--git-dir={bare}", "rev-parse", "main").strip()

    return head


@pytest.fixture
def git_spec(tmp_path, git_remote):
    """A RepoSpec for git_remote (a local repository, so allowed explicitly) with its own clone cache."""
    from apps.environments.gitops import RepoSpec, workdir_for

    def spec(bare: Path | None = None, cache: str = "cache", **kwargs) -> RepoSpec:
        url = str(bare or git_remote)
        return RepoSpec(
            url=url,
            branch="main",
            workdir=workdir_for(tmp_path / cache, url, "main"),
            allow_local=True,
            **kwargs,
        )

    return spec


# Environment fixtures --------------------------------------------------------
# The cluster fixtures (kubesim over HTTP and a Cluster row) and the environments'
# own (envfixtures.py, runnerfixtures.py), shared by the environment test modules.
from tests.clusters.conftest import cluster, sim, teams  # noqa: E402, F401
from tests.environments.envfixtures import envs, flux_phase, people  # noqa: E402, F401
from tests.environments.runnerfixtures import alice, flux, repo, staging  # noqa: E402, F401

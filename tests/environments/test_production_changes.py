"""What production runs changes only through the gates (issue 11, High #2), with real git.

"Follow automation again" used to need no approval and ignore `promotes_from`:
on a production environment with an image policy, any member could let image
automation move production to a tag nobody approved or saw healthy in staging.
Following automation is refused wherever tag changes are gated (production, an
approval, a promotion), on the page, in the service and in the runner, and a
pin never changes the tag.
"""

from __future__ import annotations

import subprocess

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.environments import gitops, runner
from apps.environments.models import Deployment, Environment
from kubesim.demo_repo import demo_repo_init
from kubesim.objects import REGISTRY

pytestmark = pytest.mark.django_db

IMAGE = f"{REGISTRY}/payments/checkout-api"
PRODUCTION_PATH = "apps/payments/production/kustomization.yaml"


@pytest.fixture
def repo(tmp_path, settings):
    path = tmp_path / "gitops.git"
    demo_repo_init(path)
    settings.SHIRUBE_GITOPS_WORKDIR = tmp_path / "work"
    return path


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def production_file(repo) -> str:
    return git(repo, "show", f"main:{PRODUCTION_PATH}")


@pytest.fixture
def production(envs, repo):
    """payments' production on the real repository, with an image policy it could follow, read from git."""
    Environment.objects.filter(pk=envs["staging"].pk).update(repo_url=str(repo), image=IMAGE)
    Environment.objects.filter(pk=envs["production"].pk).update(
        repo_url=str(repo), image=IMAGE, image_policy="payments:checkout-api"
    )
    production = Environment.objects.select_related("team", "cluster").get(pk=envs["production"].pk)
    runner.environment_refresh(environment=production)
    assert production.git_tag == "v2.14.3" and not production.follows_automation
    return production


@pytest.mark.parametrize("role", ["member", "lead", "sre"])
def test_nobody_can_make_production_follow_automation_from_the_page(role, production, people, repo,
                                                                    client_for):  # fmt: skip
    before = git(repo, "rev-parse", "main")
    page = (
        client_for(people[role])
        .get(reverse("environments:detail", args=["payments", production.slug]))
        .content.decode()
    )
    assert "never follows image automation" in page

    response = client_for(people[role]).post(
        reverse("environments:deployments", args=["payments", production.slug]),
        {"kind": "follow", "idempotency_key": f"follow-{role}"},
    )

    assert response.status_code == 403
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="environment.follow", outcome="refused").count() == 1
    assert git(repo, "rev-parse", "main") == before


def test_a_follow_queued_before_the_fix_is_refused_by_the_runner(production, people, repo):
    before = git(repo, "rev-parse", "main")
    deployment = Deployment.objects.create(
        environment=production, kind="follow", tag=production.git_tag, requested_by=people["lead"],
        idempotency_key="old-follow",
    )  # fmt: skip

    assert runner.deployment_advance(deployment_id=deployment.pk) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "gates")
    assert "never follows image automation" in deployment.message
    assert git(repo, "rev-parse", "main") == before
    assert "$imagepolicy" not in production_file(repo)


def test_a_pin_never_changes_the_tag_production_runs(production, people, repo, tmp_path):
    """Git moved (automation, or a hand edit) since the last refresh: pinning must not write the stale tag."""
    # Someone outside the portal put the marker on production, and automation moved it to v2.15.0.
    spec = runner.repo_spec(production)
    gitops.image_follow_automation(
        spec, path=PRODUCTION_PATH, image=IMAGE, policy="payments:checkout-api",
        author_name="Hand Edit", author_email="ops@example.com", message="follow by hand",
    )  # fmt: skip
    runner.environment_refresh(environment=production)
    assert production.follows_automation and production.git_tag == "v2.14.3"
    text = production_file(repo).replace("newTag: v2.14.3 #", "newTag: v2.15.0 #")
    moved = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--stdin"], input=text, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    automation_commit(repo, PRODUCTION_PATH, moved)
    before = git(repo, "rev-parse", "main")
    deployment = Deployment.objects.create(
        environment=production, kind="pin", tag="v2.14.3", requested_by=people["lead"], idempotency_key="pin"
    )

    assert runner.deployment_advance(deployment_id=deployment.pk) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "edit"), deployment.message
    assert "v2.15.0" in deployment.message
    assert git(repo, "rev-parse", "main") == before
    assert "newTag: v2.15.0" in production_file(repo)


def automation_commit(repo, path: str, blob: str) -> None:
    """Commit a new blob at path on main, as ImageUpdateAutomation would (plumbing on the bare repository)."""
    env = {"GIT_INDEX_FILE": str(repo / "automation-index"), "GIT_AUTHOR_NAME": "fluxcdbot",
           "GIT_AUTHOR_EMAIL": "flux@example.com", "GIT_COMMITTER_NAME": "fluxcdbot",
           "GIT_COMMITTER_EMAIL": "flux@example.com", "PATH": "/usr/bin:/bin"}  # fmt: skip

    def run(*args, input=None):
        return subprocess.run(["git", "-C", str(repo), *args], env=env, input=input, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip

    run("read-tree", "main")
    run("update-index", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    commit = run("commit-tree", tree, "-p", "main", "-m", "automation: checkout-api v2.15.0")
    run("update-ref", "refs/heads/main", commit)

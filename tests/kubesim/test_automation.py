"""kubesim's image automation: marked newTag lines follow their ImagePolicy, in a real bare repository."""

from __future__ import annotations

import subprocess

import pytest

from kubesim.automation import ImageAutomationPlayer, setters_apply
from kubesim.demo import evolve, flux_step, seed_demo
from kubesim.demo_repo import demo_repo_init
from kubesim.flux import AUTOMATIONS, KUSTOMIZATIONS
from kubesim.gitops import GitOpsPlayer
from kubesim.store import Store

STAGING = "apps/payments/staging/kustomization.yaml"
PRODUCTION = "apps/payments/production/kustomization.yaml"
LATEST = "main-3f2a1c9-1764150000"  # what the demo ImagePolicy selected


def git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def demo(tmp_path):
    repo = tmp_path / "gitops.git"
    demo_repo_init(repo)
    store = Store()
    seed_demo(store)
    return store, repo


def test_marked_lines_take_the_policy_tag_and_nothing_else_changes():
    text = (
        "images:\n"
        "  - name: registry/payments/checkout-api\n"
        '    newTag: v1 # {"$imagepolicy": "payments:checkout-api:tag"}\n'
        "  - name: registry/payments/ledger-worker\n"
        "    newTag: v2\n"
        '  - name: other\n    newTag: "3" # {"$imagepolicy": "payments:unknown:tag"}\r\n'
    )
    new, changes = setters_apply(text, {"payments:checkout-api": "main-abc", "payments:unknown": ""})
    assert changes == ["payments:checkout-api: v1 -> main-abc"]
    assert new == text.replace("newTag: v1 #", "newTag: main-abc #")
    assert setters_apply(new, {"payments:checkout-api": "main-abc"}) == (new, [])


def test_the_demo_staging_follows_the_newest_main_build(demo):
    store, repo = demo
    production_before = git("--git-dir", str(repo), "show", f"main:{PRODUCTION}")
    repos = {"flux-system/gitops": repo}
    gitops = GitOpsPlayer(store, repos, step_seconds=1)
    automation = ImageAutomationPlayer(store, repos, step_seconds=1)
    flux_step(gitops, automation)
    log = git("--git-dir", str(repo), "log", "-1", "--format=%H%n%an <%ae>%n%s", "main").splitlines()
    sha, author, subject = log
    assert author == "fluxcdbot <fluxcdbot@example.com>" and subject == "Update images"
    staging = git("--git-dir", str(repo), "show", f"main:{STAGING}")
    assert f'newTag: {LATEST} # {{"$imagepolicy": "payments:checkout-api:tag"}}' in staging
    assert "newTag: v1.9.0-rc.2" in staging  # ledger-worker has no marker: left alone
    assert git("--git-dir", str(repo), "show", f"main:{PRODUCTION}") == production_before
    assert store.get(AUTOMATIONS, "flux-system", "payments-staging")["status"]["lastPushCommit"] == sha
    # Flux applies the automation's commit in the same step, and the pods roll to the tag.
    kustomization = store.get(KUSTOMIZATIONS, "flux-system", "payments-staging")
    assert kustomization["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    for tick in range(1, 6):
        evolve(store, tick, gitops, automation)
    pods = [
        p for p in store.list("pods", "payments-staging") if p["metadata"]["name"].startswith("checkout-api")
    ]
    assert pods and all(p["spec"]["containers"][0]["image"].endswith(f":{LATEST}") for p in pods)
    assert automation.step() == []  # up to date: no empty commits


def test_a_pinned_line_is_left_alone(demo, tmp_path):
    store, repo = demo
    work = tmp_path / "work"
    git("clone", "-q", str(repo), str(work))
    path = work / STAGING
    path.write_text(path.read_text().replace(' # {"$imagepolicy": "payments:checkout-api:tag"}', ""))
    git("-c", "user.name=alice", "-c", "user.email=alice@example.com", "commit", "-qam", "pin", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    head = git("--git-dir", str(repo), "rev-parse", "main")
    assert ImageAutomationPlayer(store, {"flux-system/gitops": repo}).step() == []
    assert git("--git-dir", str(repo), "rev-parse", "main") == head
    status = store.get(AUTOMATIONS, "flux-system", "payments-staging")["status"]
    assert status["conditions"][0]["message"] == "repository up-to-date"


def test_a_suspended_automation_does_nothing(demo):
    store, repo = demo

    def suspend(obj):
        obj["spec"]["suspend"] = True

    store.update(AUTOMATIONS, "flux-system", "payments-staging", suspend)
    head = git("--git-dir", str(repo), "rev-parse", "main")
    assert ImageAutomationPlayer(store, {"flux-system/gitops": repo}).step() == []
    assert git("--git-dir", str(repo), "rev-parse", "main") == head


def test_an_unreadable_repository_is_reported_on_the_automation(demo, tmp_path):
    store, _ = demo
    player = ImageAutomationPlayer(store, {"flux-system/gitops": tmp_path / "missing.git"})
    assert player.step() == []
    ready = store.get(AUTOMATIONS, "flux-system", "payments-staging")["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "GitOperationFailed")


def test_it_runs_again_at_its_interval_or_when_asked(demo):
    store, repo = demo
    player = ImageAutomationPlayer(store, {"flux-system/gitops": repo}, step_seconds=30)  # 1m: 2 steps
    key = "flux-system/payments-staging"

    def automation() -> dict:
        return store.get(AUTOMATIONS, "flux-system", "payments-staging")

    assert len(player.step()) == 1
    assert not player.schedule.due(key, automation())
    player.step()
    assert player.schedule.due(key, automation())  # a minute has passed

    def ask(obj):
        obj["metadata"].setdefault("annotations", {})["reconcile.fluxcd.io/requestedAt"] = "now"

    player.step()
    assert not player.schedule.due(key, automation())
    store.update(AUTOMATIONS, "flux-system", "payments-staging", ask)
    assert player.schedule.due(key, automation())
    player.step()
    assert automation()["status"]["lastHandledReconcileAt"] == "now"
    assert not player.schedule.due(key, automation())

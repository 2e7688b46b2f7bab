"""kubesim plays Flux for a real bare git repository: commits become rollouts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from kubesim import objects as o
from kubesim.demo import evolve, seed_demo
from kubesim.demo_repo import demo_repo_init
from kubesim.flux import GITREPOSITORIES, KUSTOMIZATIONS, REQUESTED_AT
from kubesim.gitops import GitOpsPlayer
from kubesim.kustomize import image_repository
from kubesim.store import Store

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = f"{o.REGISTRY}/payments/checkout-api"
LEDGER = f"{o.REGISTRY}/payments/ledger-worker"
STAGING = "apps/payments/staging/kustomization.yaml"
PRODUCTION = "apps/payments/production/kustomization.yaml"


def git(*args: str, cwd: Path | None = None) -> str:
    command = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]
    return subprocess.run([*command, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit(bare: Path, work: Path, changes: dict[str, str], message: str = "Deploy") -> str:
    """Clone, write `changes` (path -> new content), commit and push to main; returns the sha."""
    if not work.exists():
        git("clone", "--quiet", str(bare), str(work))
    git("pull", "--quiet", "--ff-only", cwd=work)
    for path, content in changes.items():
        file = work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


def read(bare: Path, path: str) -> str:
    return git("--git-dir", str(bare), "show", f"main:{path}")


def with_tag(text: str, image: str, tag: str) -> str:
    """Replace the newTag under `- name: image`, keeping any comment after it."""
    pattern = rf"(- name: {re.escape(image)}\n\s+newTag: )\S+"
    new, count = re.subn(pattern, rf"\g<1>{tag}", text)
    assert count == 1
    return new


def request(store: Store, ref: str, namespace: str, name: str, when: str) -> None:
    def annotate(obj: dict) -> None:
        obj["metadata"].setdefault("annotations", {})[REQUESTED_AT] = when

    store.update(ref, namespace, name, annotate)


def request_deploy(store: Store, kustomization: str, when: str) -> None:
    """What the portal does after its push: reconcile the source, then the Kustomization."""
    request(store, GITREPOSITORIES, "flux-system", "gitops", when)
    request(store, KUSTOMIZATIONS, "flux-system", kustomization, when)


def image_of(store: Store, namespace: str, name: str) -> str:
    return store.get("deployments.apps", namespace, name)["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]


def pods(store: Store, namespace: str, app: str) -> list[dict]:
    return [p for p in store.list("pods", namespace) if p["metadata"]["labels"].get("app") == app]


def rolled_out(store: Store, namespace: str, app: str, image: str) -> bool:
    dep = store.get("deployments.apps", namespace, app)
    current = pods(store, namespace, app)
    return (
        len(current) == dep["spec"]["replicas"]
        and all(p["spec"]["containers"][0]["image"] == image and o.is_ready(p) for p in current)
        and dep["status"].get("updatedReplicas") == dep["status"].get("readyReplicas") == len(current)
    )


def kustomization(store: Store, name: str) -> dict:
    return store.get(KUSTOMIZATIONS, "flux-system", name)


def ready(obj: dict) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


@pytest.fixture
def bare(tmp_path) -> Path:
    path = tmp_path / "gitops.git"
    assert demo_repo_init(path) is True
    return path


@pytest.fixture
def store() -> Store:
    store = Store()
    seed_demo(store)
    return store


@pytest.fixture
def player(store, bare) -> GitOpsPlayer:
    player = GitOpsPlayer(store, {"flux-system/gitops": bare})
    player.step()
    return player


def test_the_demo_repository_is_created_once(tmp_path):
    path = tmp_path / "var" / "demo-gitops.git"

    assert demo_repo_init(path) is True
    head = git("--git-dir", str(path), "rev-parse", "main").strip()
    assert demo_repo_init(path) is False
    assert git("--git-dir", str(path), "rev-parse", "main").strip() == head  # untouched

    assert git("--git-dir", str(path), "rev-parse", "--is-bare-repository").strip() == "true"
    assert git("--git-dir", str(path), "log", "-1", "--format=%an <%ae>").strip() == (
        "Platform Team <platform@example.com>"
    )
    staging = read(path, STAGING)
    assert "namespace: payments-staging" in staging
    assert (
        f'- name: {CHECKOUT}\n    newTag: v2.15.0-rc.1 # {{"$imagepolicy": "payments:checkout-api:tag"}}'
        in staging
    )
    assert f"- name: {LEDGER}\n    newTag: v1.9.0-rc.2\n" in staging
    production = read(path, PRODUCTION)
    assert "namespace: payments\n" in production and "v2.14.3" in production and "v1.8.0" in production
    assert "kind: Deployment" in read(path, "apps/payments/staging/deployment.yaml")
    assert not list(path.parent.glob(".demo-gitops.git.*"))  # no leftovers of the build


def test_the_demo_repository_matches_the_demo_cluster(store, bare):
    before = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in store.list("deployments.apps")}

    player = GitOpsPlayer(store, {"flux-system/gitops": bare})
    player.step()

    after = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in store.list("deployments.apps")}
    assert after == before  # every tag in git is what the demo runs
    head = git("--git-dir", str(bare), "rev-parse", "main").strip()
    source = store.get(GITREPOSITORIES, "flux-system", "gitops")
    assert source["spec"]["url"] == f"file://{bare.resolve()}"
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{head}"
    assert source["status"]["artifact"]["path"] and source["status"]["artifact"]["url"]
    assert source["status"]["observedGeneration"] == source["metadata"]["generation"]
    assert ready(source)["status"] == "True"
    for name in ("payments-apps", "payments-staging"):
        obj = kustomization(store, name)
        assert obj["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
        assert ready(obj)["message"] == f"Applied revision: main@sha1:{head}"
    search = kustomization(store, "search-apps")  # still failing, now for a reason found in git
    assert (ready(search)["status"], ready(search)["reason"]) == ("False", "BuildFailed")
    assert "'indexer.yaml'" in ready(search)["message"]
    assert search["status"]["lastAppliedRevision"] == "main@sha1:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"


def test_a_commit_to_staging_rolls_out_and_production_is_unaffected(store, bare, player, tmp_path):
    production_before = store.get("deployments.apps", "payments", "checkout-api")
    production_pods = {p["metadata"]["name"] for p in pods(store, "payments", "checkout-api")}
    old_pods = {p["metadata"]["name"] for p in pods(store, "payments-staging", "checkout-api")}
    staging = read(bare, STAGING)
    sha = commit(bare, tmp_path / "work", {STAGING: with_tag(staging, CHECKOUT, "v2.15.0-rc.2")})
    new_image = f"{CHECKOUT}:v2.15.0-rc.2"
    request_deploy(store, "payments-staging", "2025-11-26T10:00:00.000000Z")

    seen_unready = False
    for tick in range(1, 11):
        evolve(store, tick, player)
        if tick == 1:
            obj = kustomization(store, "payments-staging")
            assert obj["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
            assert obj["status"]["lastHandledReconcileAt"] == "2025-11-26T10:00:00.000000Z"
            assert image_of(store, "payments-staging", "checkout-api") == new_image
        seen_unready |= any(not o.is_ready(p) for p in pods(store, "payments-staging", "checkout-api"))
        if rolled_out(store, "payments-staging", "checkout-api", new_image):
            break
    else:
        pytest.fail("the staging rollout did not finish in 10 steps")

    assert tick <= 4 and seen_unready  # a new pod is seen starting, then ready
    current = pods(store, "payments-staging", "checkout-api")
    assert not old_pods & {p["metadata"]["name"] for p in current}  # the old pods are gone
    assert current[0]["status"]["containerStatuses"][0]["image"] == new_image
    sets = store.list("replicasets.apps", "payments-staging")
    assert sorted(rs["spec"]["replicas"] for rs in sets if rs["metadata"]["name"].startswith("checkout")) == [
        0,
        1,
    ]
    dep = store.get("deployments.apps", "payments-staging", "checkout-api")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert image_of(store, "payments-staging", "ledger-worker") == f"{LEDGER}:v1.9.0-rc.2"
    source = store.get(GITREPOSITORIES, "flux-system", "gitops")
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
    assert source["status"]["lastHandledReconcileAt"] == "2025-11-26T10:00:00.000000Z"

    # Production follows the same source but its own path: nothing to change there.
    assert store.get("deployments.apps", "payments", "checkout-api") == production_before
    assert {p["metadata"]["name"] for p in pods(store, "payments", "checkout-api")} == production_pods
    assert kustomization(store, "payments-apps")["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"


def test_a_production_deploy_rolls_every_replica(store, bare, player, tmp_path):
    production = read(bare, PRODUCTION)
    sha = commit(bare, tmp_path / "work", {PRODUCTION: with_tag(production, CHECKOUT, "v2.15.0")})
    request_deploy(store, "payments-apps", "2025-11-26T11:00:00Z")

    for tick in range(1, 8):
        evolve(store, tick, player)
    assert kustomization(store, "payments-apps")["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    assert rolled_out(store, "payments", "checkout-api", f"{CHECKOUT}:v2.15.0")
    assert len(pods(store, "payments", "checkout-api")) == 3
    assert image_of(store, "payments-staging", "checkout-api") == f"{CHECKOUT}:v2.15.0-rc.1"


def test_without_a_request_the_source_is_polled_at_its_interval(store, bare, tmp_path):
    player = GitOpsPlayer(store, {"flux-system/gitops": bare}, step_seconds=30)  # interval 1m: 2 steps
    player.step()
    staging = read(bare, STAGING)
    sha = commit(bare, tmp_path / "work", {STAGING: with_tag(staging, LEDGER, "v1.9.0")})

    player.step()
    assert image_of(store, "payments-staging", "ledger-worker") == f"{LEDGER}:v1.9.0-rc.2"  # not yet
    player.step()
    assert image_of(store, "payments-staging", "ledger-worker") == f"{LEDGER}:v1.9.0"
    assert kustomization(store, "payments-staging")["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    assert "lastHandledReconcileAt" not in kustomization(store, "payments-staging")["status"]


def test_a_suspended_kustomization_is_not_applied(store, bare, player, tmp_path):
    store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", lambda k: k["spec"].update(suspend=True))
    applied = kustomization(store, "payments-staging")["status"]["lastAppliedRevision"]
    staging = read(bare, STAGING)
    sha = commit(bare, tmp_path / "work", {STAGING: with_tag(staging, CHECKOUT, "v2.15.0-rc.2")})
    request_deploy(store, "payments-staging", "2025-11-26T12:00:00Z")

    for tick in range(1, 4):
        evolve(store, tick, player)

    status = kustomization(store, "payments-staging")["status"]
    assert status["lastAppliedRevision"] == applied != f"main@sha1:{sha}"
    assert status.get("lastHandledReconcileAt") != "2025-11-26T12:00:00Z"
    assert image_of(store, "payments-staging", "checkout-api") == f"{CHECKOUT}:v2.15.0-rc.1"


def test_a_missing_path_fails_the_build(store, bare, player):
    applied = kustomization(store, "payments-staging")["status"]["lastAppliedRevision"]
    store.update(
        KUSTOMIZATIONS,
        "flux-system",
        "payments-staging",
        lambda k: k["spec"].update(path="./apps/payments/qa"),
    )
    request(store, KUSTOMIZATIONS, "flux-system", "payments-staging", "2025-11-26T13:00:00Z")

    player.step()

    obj = kustomization(store, "payments-staging")
    assert (ready(obj)["status"], ready(obj)["reason"]) == ("False", "BuildFailed")
    assert re.fullmatch(
        r"kustomization path not found: stat /tmp/kustomization-\d+/apps/payments/qa: no such file or directory",
        ready(obj)["message"],
    )
    assert obj["status"]["lastAppliedRevision"] == applied
    assert obj["status"]["lastHandledReconcileAt"] == "2025-11-26T13:00:00Z"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]


def test_invalid_yaml_fails_the_build_and_keeps_the_last_applied_revision(store, bare, player, tmp_path):
    applied = kustomization(store, "payments-staging")["status"]["lastAppliedRevision"]
    broken = read(bare, STAGING).replace("images:\n", "images:\n  - name: [unclosed\n")
    sha = commit(bare, tmp_path / "work", {STAGING: broken})
    request_deploy(store, "payments-staging", "2025-11-26T14:00:00Z")

    player.step()

    obj = kustomization(store, "payments-staging")
    assert (ready(obj)["status"], ready(obj)["reason"]) == ("False", "BuildFailed")
    assert ready(obj)["message"].startswith("kustomize build failed: MalformedYAMLError: yaml: line ")
    assert ready(obj)["message"].endswith("in File: kustomization.yaml")
    assert obj["status"]["lastAttemptedRevision"] == f"main@sha1:{sha}"
    assert obj["status"]["lastAppliedRevision"] == applied
    # Fixing it in git applies again.
    fixed = commit(
        bare, tmp_path / "work", {STAGING: read(bare, STAGING).replace("  - name: [unclosed\n", "")}
    )
    request_deploy(store, "payments-staging", "2025-11-26T14:05:00Z")
    player.step()
    obj = kustomization(store, "payments-staging")
    assert ready(obj)["status"] == "True" and obj["status"]["lastAppliedRevision"] == f"main@sha1:{fixed}"


def test_a_missing_repository_fails_the_source(store, tmp_path):
    applied = kustomization(store, "payments-staging")["status"]["lastAppliedRevision"]
    missing = tmp_path / "nowhere.git"
    player = GitOpsPlayer(store, {"flux-system/gitops": missing})

    player.step()

    source = store.get(GITREPOSITORIES, "flux-system", "gitops")
    assert source["spec"]["url"] == f"file://{missing.resolve()}"
    assert (ready(source)["status"], ready(source)["reason"]) == ("False", "GitOperationFailed")
    assert f"unable to clone 'file://{missing.resolve()}'" in ready(source)["message"]
    assert kustomization(store, "payments-staging")["status"]["lastAppliedRevision"] == applied


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"branch": "nope"}, "couldn't find remote ref 'refs/heads/nope'"),
        ({"tag": "v1"}, "kubesim follows branches only, not spec.ref.tag"),
    ],
)
def test_a_missing_branch_or_a_ref_kubesim_does_not_play_fails_the_source(store, bare, ref, message):
    store.update(GITREPOSITORIES, "flux-system", "gitops", lambda g: g["spec"].update(ref=ref))
    GitOpsPlayer(store, {"flux-system/gitops": bare}).step()
    source = store.get(GITREPOSITORIES, "flux-system", "gitops")
    assert ready(source)["reason"] == "GitOperationFailed"
    assert message in ready(source)["message"]


@pytest.mark.parametrize("field", ["digest: sha256:abc", "newName: registry.example.com/mirror"])
def test_an_entry_with_more_than_new_tag_fails_the_build_clearly(store, bare, player, tmp_path, field):
    staging = read(bare, STAGING).replace(
        f"- name: {LEDGER}\n    newTag: v1.9.0-rc.2\n", f"- name: {LEDGER}\n    {field}\n"
    )
    commit(bare, tmp_path / "work", {STAGING: staging})
    before = image_of(store, "payments-staging", "ledger-worker")
    request_deploy(store, "payments-staging", "2025-11-26T15:00:00Z")

    player.step()

    obj = kustomization(store, "payments-staging")
    assert ready(obj)["reason"] == "BuildFailed"
    assert f"kubesim applies newTag only, not {field.split(':')[0]} (image {LEDGER})" in ready(obj)["message"]
    assert image_of(store, "payments-staging", "ledger-worker") == before


def test_the_image_repository_leaves_out_tag_and_digest_but_not_a_registry_port():
    assert image_repository("reg:5000/app:v1") == "reg:5000/app"
    assert image_repository("reg:5000/app") == "reg:5000/app"
    assert image_repository("reg:5000/app:v1@sha256:0") == "reg:5000/app"
    assert image_repository("a/app@sha256:0") == "a/app"


def test_a_template_set_back_reuses_its_replicaset_as_a_new_revision(store):
    def set_image(image: str) -> None:
        def change(dep: dict) -> None:
            dep["spec"]["template"]["spec"]["containers"][0]["image"] = image

        store.update("deployments.apps", "payments-staging", "checkout-api", change)

    old = image_of(store, "payments-staging", "checkout-api")
    set_image(f"{CHECKOUT}:v9")
    for tick in range(1, 5):
        evolve(store, tick)
    set_image(old)
    for tick in range(5, 9):
        evolve(store, tick)

    assert rolled_out(store, "payments-staging", "checkout-api", old)
    sets = [
        rs
        for rs in store.list("replicasets.apps", "payments-staging")
        if "checkout" in rs["metadata"]["name"]
    ]
    assert len(sets) == 2
    dep = store.get("deployments.apps", "payments-staging", "checkout-api")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_the_cli_plays_flux_for_the_repository(tmp_path):
    kubeconfig, repo = tmp_path / "kubeconfig", tmp_path / "demo-gitops.git"
    process = subprocess.Popen(
        [sys.executable, "-m", "kubesim", "--port", "0", "--seed", "demo", "--evolve-every", "0.3",
         "--kubeconfig", str(kubeconfig), "--gitops-repo", str(repo)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout.readline().startswith("kubesim listening on ")
        head = git("--git-dir", str(repo), "rev-parse", "main").strip()
        api = config.new_client_from_config(config_file=str(kubeconfig))
        with api:
            custom = client.CustomObjectsApi(api)
            flux = ("kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations")
            staging = custom.get_namespaced_custom_object(*flux, "payments-staging")
            assert staging["spec"]["path"] == "./apps/payments/staging"
            assert staging["spec"]["targetNamespace"] == "payments-staging"
            assert staging["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
            source = custom.get_namespaced_custom_object(
                "source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories", "gitops"
            )
            assert source["spec"]["url"] == f"file://{repo.resolve()}"

            # A deploy end to end, as the portal does it: push, request, wait.
            sha = commit(
                repo, tmp_path / "work", {STAGING: with_tag(read(repo, STAGING), CHECKOUT, "v2.15.0-rc.2")}
            )
            patch = {"metadata": {"annotations": {REQUESTED_AT: "2025-11-26T17:00:00Z"}}}
            custom.patch_namespaced_custom_object(
                "source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories", "gitops", patch
            )
            custom.patch_namespaced_custom_object(*flux, "payments-staging", patch)
            core, deadline = client.CoreV1Api(api), time.monotonic() + 15
            while time.monotonic() < deadline:
                status = custom.get_namespaced_custom_object(*flux, "payments-staging")["status"]
                running = core.list_namespaced_pod(
                    "payments-staging", label_selector="app=checkout-api"
                ).items
                if (
                    status["lastAppliedRevision"] == f"main@sha1:{sha}"
                    and running
                    and all(p.spec.containers[0].image.endswith(":v2.15.0-rc.2") for p in running)
                    and all(p.status.container_statuses[0].ready for p in running)
                ):
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"the deploy did not finish: {status}")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr

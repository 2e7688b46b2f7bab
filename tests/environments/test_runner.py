"""The deployment state machine, end to end: real git, kubesim over HTTP playing Flux for the repository.

Each transition is driven by calling the runner step by step (what the task
does between countdowns), with the simulated Flux and rollout advancing in
between, so every state and every timeout is observable.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.environments import runner
from apps.environments.models import Deployment, Environment
from kubesim.objects import REGISTRY
from tests.environments.runnerfixtures import BRANCH_TAG, IMAGE, KUSTOMIZATIONS, drive, git, request

pytestmark = pytest.mark.django_db


def test_the_environment_reads_its_tag_and_marker_from_git(staging):
    assert staging.git_tag == "v2.15.0-rc.1"
    assert staging.git_marker == "payments:checkout-api" and staging.follows_automation
    assert len(staging.git_sha) == 40 and staging.git_error == ""


def test_a_deploy_goes_from_queued_to_healthy_through_git_and_flux(staging, alice, repo, flux, sim):
    deployment = request(alice, staging)
    seen = drive(deployment, flux)
    # "committing" lasts only while git runs inside one step (a lost worker there: see below).
    assert seen == ["queued", "committed", "reconciling", "healthy"], deployment.message
    # The commit: authored by the requester, exactly the tag line changed, the pin recorded.
    head = git(repo, "log", "-1", "--format=%H%n%an <%ae>%n%B", "main")
    sha, author, *message = head.splitlines()
    assert deployment.sha == sha and author == "Alice <alice@example.com>"
    assert message[0] == f"Deploy checkout-api {BRANCH_TAG} to staging"
    assert any("payments:checkout-api" in line for line in message), "the pin is recorded in the commit"
    diff = [
        line for line in git(repo, "show", "--format=", sha).splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]  # fmt: skip
    assert diff == [
        '-    newTag: v2.15.0-rc.1 # {"$imagepolicy": "payments:checkout-api:tag"}',
        f"+    newTag: {BRANCH_TAG}",
    ]
    # Flux applied the commit and every pod runs the tag.
    kustomization = sim.store.get(KUSTOMIZATIONS, "flux-system", "payments-staging")
    assert kustomization["status"]["lastAppliedRevision"] == f"main@sha1:{sha}"
    pods = [p for p in sim.store.list("pods", "payments-staging") if "checkout-api" in p["metadata"]["name"]]
    assert pods and all(p["spec"]["containers"][0]["image"] == f"{IMAGE}:{BRANCH_TAG}" for p in pods)
    # The environment is pinned, by alice, and every step is audited.
    staging.refresh_from_db()
    assert staging.git_tag == BRANCH_TAG and staging.pinned and staging.pinned_by == alice
    outcomes = list(
        AuditEvent.objects.filter(correlation=f"deployment-{deployment.pk}")
        .order_by("id")
        .values_list("outcome", flat=True)
    )
    assert outcomes == ["requested", "committed", "reconciling", "applied", "succeeded"]
    assert deployment.previous_tag == "v2.15.0-rc.1"


def test_the_same_request_key_never_deploys_twice(staging, alice, repo):
    first = request(alice, staging, key="one-form")
    again = request(alice, staging, key="one-form")
    assert again.pk == first.pk and Deployment.objects.count() == 1


def test_deploys_to_one_environment_are_serialised(staging, alice, flux):
    first = request(alice, staging, tag="main-3f2a1c9-1764150000", key="a")
    second = request(alice, staging, tag=BRANCH_TAG, key="b")
    second.requested_at = first.requested_at + timedelta(seconds=1)
    second.save()
    assert runner.deployment_advance(deployment_id=second.pk) is not None
    second.refresh_from_db()
    assert second.status == "queued" and "earlier request" in second.message  # the older one goes first
    runner.deployment_advance(deployment_id=first.pk)  # first commits
    assert runner.deployment_advance(deployment_id=second.pk) is not None
    second.refresh_from_db()
    assert second.status == "queued" and f"deployment #{first.pk}" in second.message
    assert drive(first, flux)[-1] == "healthy"
    assert drive(second, flux)[-1] == "healthy"
    staging.refresh_from_db()
    assert staging.git_tag == BRANCH_TAG


def test_a_queued_deployment_gives_up_after_the_queue_timeout(staging, alice, settings):
    busy = Deployment.objects.create(environment=staging, kind="deploy", tag="v1", status="reconciling",
                                     idempotency_key="busy")  # fmt: skip
    waiting = request(alice, staging)
    Deployment.objects.filter(pk=waiting.pk).update(
        requested_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_QUEUE_TIMEOUT + 1)
    )
    assert runner.deployment_advance(deployment_id=waiting.pk) is None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.failed_step) == ("failed", "queued")
    assert busy.status == "reconciling"


def test_flux_not_applying_the_commit_fails_at_the_reconcile_timeout(staging, alice, settings):
    deployment = request(alice, staging)
    runner.deployment_advance(deployment_id=deployment.pk)  # commit
    runner.deployment_advance(deployment_id=deployment.pk)  # ask Flux; nothing plays Flux now
    assert runner.deployment_advance(deployment_id=deployment.pk) is not None
    deployment.refresh_from_db()
    assert deployment.status == "reconciling" and "Waiting for Flux" in deployment.message
    Deployment.objects.filter(pk=deployment.pk).update(
        step_started_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT + 1)
    )
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    deployment.refresh_from_db()
    assert (
        deployment.failed_step == "reconcile" and f"did not apply {deployment.sha[:7]}" in deployment.message
    )
    assert AuditEvent.objects.filter(correlation=f"deployment-{deployment.pk}", outcome="failed").exists()


def test_pods_that_never_become_ready_fail_at_the_rollout_timeout(staging, alice, flux, sim, settings):
    def pause(obj):
        obj["spec"]["paused"] = True  # the simulated Deployment controller leaves it alone

    sim.store.update("deployments.apps", "payments-staging", "checkout-api", pause)
    deployment = request(alice, staging)
    for _ in range(4):
        runner.deployment_advance(deployment_id=deployment.pk)
        flux()
    deployment.refresh_from_db()
    assert deployment.status == "reconciling" and deployment.applied_at is not None
    assert "0 of 1 pods run" in deployment.message
    Deployment.objects.filter(pk=deployment.pk).update(
        applied_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT + 1)
    )
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    deployment.refresh_from_db()
    assert deployment.failed_step == "rollout" and "did not all run" in deployment.message


def test_a_suspended_kustomization_fails_the_deploy_with_the_reason(staging, alice, flux, sim):
    def suspend(obj):
        obj["spec"]["suspend"] = True

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", suspend)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    assert deployment.failed_step == "reconcile" and "suspended" in deployment.message


def test_a_build_failure_fails_the_deploy_with_flux_s_message(staging, alice, flux, sim):
    def break_path(obj):
        obj["spec"]["path"] = "./apps/payments/nowhere"

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", break_path)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    assert deployment.failed_step == "reconcile" and "BuildFailed" in deployment.message


def test_an_image_missing_from_the_kustomization_fails_and_commits_nothing(staging, alice, repo, flux):
    Environment.objects.filter(pk=staging.pk).update(image=f"{REGISTRY}/payments/unknown-api")
    staging.refresh_from_db()
    head = git(repo, "rev-parse", "main")
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    assert deployment.failed_step == "read" and "unknown-api" in deployment.message
    assert "checkout-api" in deployment.message  # names the images that are there
    assert git(repo, "rev-parse", "main") == head
    event = AuditEvent.objects.get(correlation=f"deployment-{deployment.pk}", outcome="failed")
    assert event.parameters["step"] == "read" and "unknown-api" in event.message


def test_an_unreachable_repository_fails_at_fetch(staging, alice, tmp_path, flux):
    Environment.objects.filter(pk=staging.pk).update(repo_url=str(tmp_path / "gone.git"))
    staging.refresh_from_db()
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    assert deployment.failed_step == "fetch"
    refreshed = runner.environment_refresh(environment=staging)
    assert refreshed.git_error and refreshed.git_tag == "v2.15.0-rc.1"  # the last good read is kept


def test_an_unreachable_cluster_is_retried_then_fails_at_the_reconcile_timeout(
    staging, alice, cluster, settings
):
    deployment = request(alice, staging)
    runner.deployment_advance(deployment_id=deployment.pk)  # commit
    cluster.kubeconfig_path = "/nonexistent/kubeconfig"
    cluster.save()
    assert runner.deployment_advance(deployment_id=deployment.pk) is not None
    deployment.refresh_from_db()
    assert deployment.status == "committed" and "retrying" in deployment.message
    Deployment.objects.filter(pk=deployment.pk).update(
        step_started_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_RECONCILE_TIMEOUT + 1)
    )
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "reconcile")


def test_another_worker_committing_is_left_alone(staging, alice):
    deployment = request(alice, staging)
    Deployment.objects.filter(pk=deployment.pk).update(
        status="committing", step_started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    deployment.refresh_from_db()
    assert deployment.status == "committing"


def test_pin_then_follow_automation_again(staging, alice, repo, flux):
    pin = request(alice, staging, kind="pin", tag="")
    assert drive(pin, flux) == ["queued", "done"]
    text = git(repo, "show", "main:apps/payments/staging/kustomization.yaml")
    assert "$imagepolicy" not in text and "newTag: v2.15.0-rc.1" in text
    staging.refresh_from_db()
    assert staging.pinned and staging.pinned_by == alice
    follow = request(alice, staging, kind="follow", tag="")
    assert drive(follow, flux)[-1] == "done"
    text = git(repo, "show", "main:apps/payments/staging/kustomization.yaml")
    assert 'newTag: v2.15.0-rc.1 # {"$imagepolicy": "payments:checkout-api:tag"}' in text
    staging.refresh_from_db()
    assert staging.follows_automation and staging.pinned_by is None


def test_a_rollback_returns_to_the_previous_tag(staging, alice, flux):
    assert drive(request(alice, staging), flux)[-1] == "healthy"
    staging.refresh_from_db()
    back = request(alice, staging, kind="rollback", tag="")
    assert back.tag == "v2.15.0-rc.1"
    assert drive(back, flux)[-1] == "healthy"
    staging.refresh_from_db()
    assert staging.git_tag == "v2.15.0-rc.1"


def test_the_watchdog_finds_deployments_whose_task_chain_was_lost(staging, alice):
    deployment = request(alice, staging)
    assert runner.deployments_stalled() == []
    Deployment.objects.filter(pk=deployment.pk).update(requested_at=timezone.now() - timedelta(minutes=5))
    assert runner.deployments_stalled() == [deployment.pk]
    Deployment.objects.filter(pk=deployment.pk).update(status="healthy")
    assert runner.deployments_stalled() == []


def test_a_normal_rollout_reads_rolling_out_and_never_drifted(staging, alice, flux, cluster):
    """Synced between every step (the page's view of it): old pods on the way out are a rollout."""
    from apps.clusters import sync
    from apps.environments.selectors import environment_live

    deployment = request(alice, staging)
    states = []
    for _ in range(40):
        delay = runner.deployment_advance(deployment_id=deployment.pk)
        sync.cluster_sync(cluster=cluster)
        staging.refresh_from_db()
        states.append(environment_live(staging).state)
        if delay is None:
            break
        flux()
    deployment.refresh_from_db()
    assert deployment.status == "healthy", deployment.message
    assert "rolling out" in states and states[-1] == "healthy"
    assert "drifted" not in states and "failing" not in states, states

"""The "why isn't my change live?" page against kubesim: real git, simulated Flux, the real sync.

Each test puts the platform in one stuck state through kubesim (what Flux or the
kubelet would do), syncs as the worker does, and reads the page: the first step
not reached, with its reason, lesson and action.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.clusters import sync
from apps.clusters.models import Cluster
from apps.environments import trace
from kubesim.objects.pods import image_pull_backoff
from tests.environments.runnerfixtures import BRANCH_TAG, KUSTOMIZATIONS, drive, request
from tests.factories import LessonFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

GITREPOSITORIES = "gitrepositories.source.toolkit.fluxcd.io"


def _trace(environment, user, **named):
    environment.refresh_from_db()
    return trace.environment_trace(environment=environment, user=user, **named)


def _states(result) -> dict[str, str]:
    return {step.key: step.state for step in result.steps}


def _page(client, user, environment, **params):
    client.force_login(user)
    url = reverse("environments:trace", args=[environment.team.slug, environment.slug])
    return client.get(url, params)


def test_a_healthy_environment_is_live_at_every_step(staging, alice, cluster, client):
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice)
    assert _states(result) == dict.fromkeys(("commit", "source", "apply", "rollout", "pods"), "done")
    assert result.live and result.tag == staging.git_tag
    # When git was read, in words ("0 minutes"), not a raw duration ("0:00:01.5").
    assert "Git read 0\xa0minutes ago" in result.steps[0].detail
    page = _page(client, alice, staging)
    assert page.status_code == 200 and "Live:" in page.content.decode()


def test_a_source_that_cannot_fetch_stops_the_trace_there_with_flux_s_reason(
    staging, alice, sre, cluster, flux, sim, client
):
    LessonFactory(title="When Flux cannot fetch", related_reasons=["GitOperationFailed"])

    def wrong_branch(obj):
        obj["spec"]["ref"] = {"branch": "no-such-branch"}

    sim.store.update(GITREPOSITORIES, "flux-system", "gitops", wrong_branch)
    deployment = request(alice, staging)
    for _ in range(3):
        from apps.environments import runner

        runner.deployment_advance(deployment_id=deployment.pk)
        flux()
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice)
    assert result.tag == BRANCH_TAG
    assert _states(result) == {
        "commit": "done", "source": "stuck", "apply": "not reached", "rollout": "not reached",
        "pods": "not reached",
    }  # fmt: skip
    source = result.first_open
    assert source.reason == "GitOperationFailed" and "no-such-branch" in source.message
    assert source.lesson.title == "When Flux cannot fetch" and source.since is not None
    # The shared source in flux-system is no one team's: alice is told to ask an SRE, who may.
    assert [(a.kind, a.allowed) for a in source.actions] == [("reconcile", False)]
    assert "ask an SRE" in source.actions[0].why_not
    assert [(a.kind, a.allowed) for a in _trace(staging, sre).first_open.actions] == [("reconcile", True)]
    body = _page(client, alice, staging).content.decode()
    assert "GitOperationFailed" in body and "Reconcile GitRepository flux-system/gitops" in body


def test_a_build_failure_shows_the_kustomization_s_message_and_lesson(staging, alice, cluster, flux, sim):
    LessonFactory(title="Reading a Flux failure", related_reasons=["BuildFailed"])

    def break_path(obj):
        obj["spec"]["path"] = "./apps/payments/nowhere"

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", break_path)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice, tag=BRANCH_TAG)
    assert _states(result)["source"] == "done"
    apply = result.first_open
    assert apply.key == "apply" and apply.state == "stuck" and apply.reason == "BuildFailed"
    assert "nowhere" in apply.message and apply.lesson.title == "Reading a Flux failure"
    assert result.deployment == deployment


def test_applied_but_the_rollout_stuck_offers_a_rollback(staging, alice, cluster, flux, sim):
    from apps.environments import runner

    def pause(obj):
        obj["spec"]["paused"] = True  # the simulated Deployment controller leaves it alone

    sim.store.update("deployments.apps", "payments-staging", "checkout-api", pause)
    deployment = request(alice, staging)
    for _ in range(4):
        runner.deployment_advance(deployment_id=deployment.pk)
        flux()
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice)
    states = _states(result)
    assert states["apply"] == "done" and states["rollout"] == "waiting" and states["pods"] == "not reached"
    rollout = result.first_open
    deployment.refresh_from_db()
    assert deployment.previous_tag == "v2.15.0-rc.1"
    assert "observed only" in rollout.detail and rollout.since is not None
    assert [(a.kind, a.tag, a.allowed) for a in rollout.actions] == [
        ("rollback", deployment.previous_tag, True)
    ]


def test_pods_that_cannot_pull_the_image_name_the_reason_and_lesson(staging, alice, cluster, flux, sim):
    LessonFactory(title="Why a pod will not start", related_reasons=["ImagePullBackOff"])
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "healthy"
    for pod in sim.store.list("pods", "payments-staging"):
        if pod["metadata"]["name"].startswith("checkout-api"):
            sim.store.update("pods", "payments-staging", pod["metadata"]["name"], image_pull_backoff)
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice)
    pods = result.first_open
    assert pods.key == "pods" and pods.state == "stuck" and pods.reason == "ImagePullBackOff"
    assert pods.lesson.title == "Why a pod will not start" and "not found" in pods.message
    assert _states(result)["rollout"] == "done"
    assert [a.kind for a in pods.actions] == ["rollback"]


def test_stale_data_is_unknown_not_failed(staging, alice, cluster, settings):
    sync.cluster_sync(cluster=cluster)
    Cluster.objects.filter(pk=cluster.pk).update(
        last_success_at=timezone.now() - timedelta(seconds=3 * settings.SHIRUBE_SYNC_INTERVAL + 5)
    )
    staging.cluster.refresh_from_db()
    result = _trace(staging, alice)
    assert result.stale and not result.live
    assert _states(result) == {
        "commit": "done", "source": "unknown", "apply": "unknown", "rollout": "unknown", "pods": "unknown",
    }  # fmt: skip
    assert all(not step.actions for step in result.steps)


def test_fresh_data_within_three_intervals_is_trusted(staging, alice, cluster, settings):
    sync.cluster_sync(cluster=cluster)
    Cluster.objects.filter(pk=cluster.pk).update(
        last_success_at=timezone.now() - timedelta(seconds=3 * settings.SHIRUBE_SYNC_INTERVAL - 5)
    )
    staging.cluster.refresh_from_db()
    assert _trace(staging, alice).live


def test_a_tag_nobody_committed_stops_at_the_commit(staging, alice, cluster):
    sync.cluster_sync(cluster=cluster)
    result = _trace(staging, alice, tag="never-deployed-1")
    assert result.first_open.key == "commit" and result.first_open.reason == "not committed"
    assert [s.state for s in result.steps] == ["stuck"]


def test_a_malformed_tag_or_commit_is_a_400_with_the_reason(staging, alice, client):
    response = _page(client, alice, staging, commit="not-a-sha")
    assert response.status_code == 400 and "not a valid commit" in response.content.decode()
    response = _page(client, alice, staging, tag="-bad")
    assert response.status_code == 400 and "not a valid tag" in response.content.decode()


def test_someone_outside_the_team_reads_it_but_is_not_offered_the_action(staging, alice, cluster, flux, sim):
    bob = MembershipFactory(user=UserFactory(username="bob")).user

    def suspend(obj):
        obj["spec"]["suspend"] = True

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", suspend)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"  # the runner sees the suspension too
    sync.cluster_sync(cluster=cluster)
    apply = _trace(staging, bob).first_open
    assert apply.key == "apply" and apply.reason == "Suspended"
    assert [(a.kind, a.allowed) for a in apply.actions] == [("resume", False)]
    assert [(a.kind, a.allowed) for a in _trace(staging, alice).first_open.actions] == [("resume", True)]


def test_the_trace_is_linked_from_the_environment_a_failed_deployment_the_pod_and_flux_pages(
    staging, alice, cluster, flux, sim, client
):
    from apps.clusters.models import Pod

    def break_path(obj):
        obj["spec"]["path"] = "./apps/payments/nowhere"

    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", break_path)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    sync.cluster_sync(cluster=cluster)
    client.force_login(alice)
    url = reverse("environments:trace", args=["payments", staging.slug])
    page = client.get(reverse("environments:detail", args=["payments", staging.slug])).content.decode()
    assert f'href="{url}"' in page and f'href="{url}?commit={deployment.sha}"' in page
    flux_page = client.get(reverse("clusters:flux", args=["payments"])).content.decode()
    assert f'href="{url}"' in flux_page
    pod = Pod.objects.filter(
        cluster=cluster, namespace="payments-staging", name__startswith="checkout-api"
    ).first()
    other = Pod.objects.get(cluster=cluster, namespace="payments-staging", name__startswith="ledger-worker")
    pod_url = reverse("clusters:pod", args=["payments", cluster.name, pod.namespace, pod.name])
    assert f'href="{url}"' in client.get(pod_url).content.decode()
    # A pod of another image in the same namespace is not this environment's.
    other_url = reverse("clusters:pod", args=["payments", cluster.name, other.namespace, other.name])
    assert url not in client.get(other_url).content.decode()


def test_an_environment_whose_git_was_never_read_says_so(envs, people):
    from apps.environments.models import Environment

    staging = envs["staging"]
    Environment.objects.filter(pk=staging.pk).update(git_sha="", git_tag="", git_error="could not fetch")
    result = _trace(staging, people["member"])
    step = result.first_open
    assert step.key == "commit" and step.reason == "git not read" and step.message == "could not fetch"

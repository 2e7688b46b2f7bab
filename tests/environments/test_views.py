"""Environment pages and forms over HTTP: what they show, refusals, bad input, CSRF, double submission."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.environments.models import Approval, Deployment
from tests.environments.envfixtures import (
    STAGING_SHA,
    approval,
    complete_phase,
    kustomization_row,
    pods_running,
    staging_healthy,
    workload_wants,
)

pytestmark = pytest.mark.django_db


def url(name, env, **kwargs):
    return reverse(f"environments:{name}", args=[env.team.slug, env.slug], kwargs=kwargs or None)


def test_the_list_shows_each_environment_with_git_and_live_state(client_for, envs, people):
    staging_healthy(envs, "v2.15.0")
    response = client_for(people["member"]).get(reverse("environments:list", args=["payments"]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "checkout-api-staging" in body and "checkout-api-production" in body
    assert "healthy" in body and "follows payments:checkout-api" in body


def test_anonymous_visitors_are_sent_to_log_in(client, envs):
    response = client.get(url("detail", envs["staging"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_detail_page_shows_tags_flux_state_automation_and_newest_tags(client_for, envs, people):
    staging = envs["staging"]
    staging_healthy(envs, "v2.15.0")
    from apps.clusters.models import FluxObject

    FluxObject.objects.create(
        cluster=staging.cluster, namespace="payments", name="checkout-api", kind="ImageRepository", uid="ir",
        resource_version="1", api_version="image.toolkit.fluxcd.io/v1",
        details={"latestTags": ["feature-x-3f2a1c9-1732600000", "v2.15.0"], "tagCount": 42},
    )  # fmt: skip
    body = client_for(people["member"]).get(url("detail", staging)).content.decode()
    assert 'data-testid="git-tag">v2.15.0<' in body
    assert "Follows the image policy" in body and "feature-x-3f2a1c9-1732600000" in body
    assert "2 of 2 ready" in body and f"applied main@sha1:{STAGING_SHA}" in body


def test_the_production_page_names_the_lessons_that_unlock_promotion(client_for, envs, people, flux_phase):
    staging_healthy(envs, "v2.15.0")
    body = client_for(people["member"]).get(url("detail", envs["production"])).content.decode()
    assert "Complete “Shipping with Flux” first" in body
    for lesson in flux_phase[1]:
        assert reverse("lessons:lesson", args=[lesson.phase.slug, lesson.slug]) in body
    assert "Promote v2.15.0" in body


def test_a_deploy_form_queues_one_deployment_even_when_submitted_twice(client_for, envs, people):
    client = client_for(people["member"])
    form = {"kind": "deploy", "tag": "feature-x-3f2a1c9-1732600000", "idempotency_key": "form-1",
            "confirm_unverified": "on"}  # fmt: skip
    first = client.post(url("deployments", envs["staging"]), form)
    second = client.post(url("deployments", envs["staging"]), form)
    assert first.status_code == second.status_code == 302
    assert Deployment.objects.count() == 1
    assert AuditEvent.objects.filter(action="environment.deploy", outcome="requested").count() == 1


def test_an_invalid_tag_is_a_400_that_says_why_and_is_audited(client_for, envs, people):
    response = client_for(people["member"]).post(
        url("deployments", envs["staging"]), {"kind": "deploy", "tag": "-bad tag!", "idempotency_key": "k"}
    )
    assert response.status_code == 400
    assert "is not a valid image tag" in response.content.decode()
    assert Deployment.objects.count() == 0
    event = AuditEvent.objects.get(action="environment.deploy")
    assert event.outcome == "failed" and "not a valid image tag" in event.message


def test_a_tag_the_registry_scan_has_not_seen_is_refused_when_the_scan_lists_every_tag(
    client_for, envs, people
):
    from apps.clusters.models import FluxObject

    staging = envs["staging"]
    FluxObject.objects.create(
        cluster=staging.cluster, namespace="payments", name="checkout-api", kind="ImageRepository", uid="ir",
        resource_version="1", api_version="image.toolkit.fluxcd.io/v1",
        details={"latestTags": ["v2.15.0", "v2.14.3"], "tagCount": 2},
    )  # fmt: skip
    response = client_for(people["member"]).post(
        url("deployments", staging), {"kind": "deploy", "tag": "v9.9.9", "idempotency_key": "k"}
    )
    body = response.content.decode()
    assert (
        response.status_code == 400 and "lists every tag it found (2), and v9.9.9 is not one of them" in body
    )
    confirmed = client_for(people["member"]).post(
        url("deployments", staging),
        {"kind": "deploy", "tag": "v9.9.9", "idempotency_key": "k2", "confirm_unverified": "on"},
    )
    assert confirmed.status_code == 400 and not Deployment.objects.exists()  # no word overrides a full scan


def test_another_team_is_refused_with_a_403_and_an_audit_event(client_for, envs, people):
    response = client_for(people["other team"]).post(
        url("deployments", envs["staging"]), {"kind": "deploy", "tag": "v1", "idempotency_key": "k"}
    )
    assert response.status_code == 403
    assert "Only members of Payments" in response.content.decode()
    assert AuditEvent.objects.get(action="environment.deploy").outcome == "refused"


def test_a_get_never_deploys(client_for, envs, people):
    response = client_for(people["member"]).get(url("deployments", envs["staging"]))
    assert response.status_code == 405 and Deployment.objects.count() == 0


def test_csrf_is_enforced(envs, people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["member"])
    response = client.post(
        url("deployments", envs["staging"]), {"kind": "deploy", "tag": "v1", "idempotency_key": "k"}
    )
    assert response.status_code == 403 and Deployment.objects.count() == 0


def test_an_unknown_environment_is_a_404(client_for, envs, people):
    response = client_for(people["member"]).get(
        reverse("environments:detail", args=["payments", "nope-staging"])
    )
    assert response.status_code == 404
    response = client_for(people["member"]).get(
        reverse("environments:detail", args=["search", "checkout-api-staging"])
    )
    assert response.status_code == 404


def test_the_approval_flow_over_http(client_for, envs, people, flux_phase):
    production = envs["production"]
    staging_healthy(envs, "v2.15.0")
    complete_phase(people["member"], flux_phase[0])
    member = client_for(people["member"])
    refused = member.post(
        url("deployments", production), {"kind": "promote", "tag": "v2.15.0", "idempotency_key": "p1"}
    )
    assert refused.status_code == 403 and "needs an approval" in refused.content.decode()
    assert (
        member.post(url("approvals", production), {"tag": "v2.15.0", "reason": "checkout fix"}).status_code
        == 302
    )
    asked = Approval.objects.get()
    own = member.post(reverse("environments:approve", args=["payments", production.slug, asked.pk]))
    assert own.status_code == 403
    lead = client_for(people["lead"])
    assert "Approve v2.15.0" in lead.get(url("detail", production)).content.decode()
    assert (
        lead.post(reverse("environments:approve", args=["payments", production.slug, asked.pk])).status_code
        == 302
    )
    member = client_for(people["member"])
    done = member.post(
        url("deployments", production), {"kind": "promote", "tag": "v2.15.0", "idempotency_key": "p2"}
    )
    assert done.status_code == 302
    deployment = Deployment.objects.get()
    assert deployment.kind == "promote" and deployment.approval_id == asked.pk


def test_an_approval_request_for_an_environment_without_approvals_is_refused(client_for, envs, people):
    response = client_for(people["member"]).post(url("approvals", envs["staging"]), {"tag": "v1"})
    assert response.status_code == 403 and "needs no approval" in response.content.decode()


def _state(client, environment) -> str:
    body = client.get(url("detail", environment)).content.decode()
    return body.split('data-testid="env-state">', 1)[1].split("<", 1)[0]


def test_live_state_words_say_what_happens(client_for, envs, people):
    """Git asks for v2.15.0 and Flux applied that commit; what do the pods and the cluster's spec say?"""
    staging, client = envs["staging"], client_for(people["member"])
    kustomization_row(staging, revision=f"main@sha1:{staging.git_sha}")
    # The first seconds of every deploy: the Deployment asks for the new tag, the old pods still run.
    workload_wants(staging, "v2.15.0")
    pods_running(staging, "v2.14.0")
    assert _state(client, staging) == "rolling out"
    pods_running(staging, "v2.15.0", ready=False, reason="ContainerCreating")
    assert _state(client, staging) == "rolling out"
    # Someone set the image by hand: the cluster's own spec asks for another tag than git.
    workload_wants(staging, "v2.14.0")
    pods_running(staging, "v2.14.0")
    assert _state(client, staging) == "drifted"
    # Pods on git's tag that will not come up by waiting are failing, not rolling out.
    workload_wants(staging, "v2.15.0")
    for reason in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"):
        pods_running(staging, "v2.15.0", ready=False, reason=reason)
        body = client.get(url("detail", staging)).content.decode()
        assert 'data-testid="env-state">failing<' in body and reason in body, reason
    listed = client.get(reverse("environments:list", args=["payments"])).content.decode()
    assert 'class="env-state state-failing">failing<' in listed


def test_the_page_polls_its_own_url(client_for, envs, people):
    staging = envs["staging"]
    response = client_for(people["member"]).get(url("detail", staging), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert f'hx-get="{url("detail", staging)}"' in body and "<html" not in body


def test_the_page_reloads_when_the_deployment_it_showed_finishes(client_for, envs, people):
    staging = envs["staging"]
    client = client_for(people["member"])
    client.post(url("deployments", staging),
                {"kind": "deploy", "tag": "v2.16.0", "idempotency_key": "k", "confirm_unverified": "on"})  # fmt: skip
    deployment = Deployment.objects.get()
    body = client.get(url("detail", staging)).content.decode()
    assert f'?watch={deployment.pk}"' in body
    polled = client.get(url("detail", staging) + f"?watch={deployment.pk}", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in polled
    Deployment.objects.filter(pk=deployment.pk).update(status="healthy")
    polled = client.get(url("detail", staging) + f"?watch={deployment.pk}", headers={"HX-Request": "true"})
    assert polled["HX-Refresh"] == "true"


def test_an_expired_approval_is_shown_as_expired(client_for, envs, people):
    approval(
        envs["production"],
        tag="v2.15.0",
        requested_by=people["member"],
        approved_by=people["lead"],
        expired=True,
    )
    body = client_for(people["member"]).get(url("detail", envs["production"])).content.decode()
    assert "expired by carol" in body


def test_the_page_s_queries_do_not_grow_with_deployments_and_approvals(
    client_for, envs, people, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    production = envs["production"]
    staging_healthy(envs, "v2.15.0")
    client = client_for(people["lead"])

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url("detail", production)).status_code == 200
        return len(ctx.captured_queries)

    Deployment.objects.create(
        environment=production, kind="promote", tag="v0", idempotency_key="k0", status="healthy"
    )
    approval(production, tag="v0", requested_by=people["member"])
    few = count()
    for n in range(1, 30):
        Deployment.objects.create(environment=production, kind="promote", tag=f"v{n}", idempotency_key=f"k{n}",
                                  status="healthy", requested_by=people["member"])  # fmt: skip
        approval(production, tag=f"v{n}", requested_by=people["member"], approved_by=people["sre"])
    assert count() == few


def test_the_list_says_which_environments_have_approvals_waiting(client_for, envs, people):
    approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    approval(envs["production"], tag="v2.14.9", requested_by=people["member"], approved_by=people["sre"])
    body = client_for(people["lead"]).get(reverse("environments:list", args=["payments"])).content.decode()
    assert "1 waiting for approval" in body and "v2.15.0 asked by alice" in body


def test_the_approval_lifetime_reads_as_a_duration(client_for, envs, people):
    staging_healthy(envs, "v2.15.0")
    body = client_for(people["member"]).get(url("detail", envs["production"])).content.decode()
    assert "An approval lasts 1 day." in body and "0:00:00" not in body  # was "1 day, 0:00:00"

"""Acts through the API: the pages' services and gates, 202 and a URL to follow, problem details,
Idempotency-Key, per-token rate limits, and team service tokens."""

from __future__ import annotations

import pytest

from apps.api.models import ApiToken
from apps.audit.models import AuditEvent
from apps.environments.models import Approval, Deployment
from tests.environments.envfixtures import approval, complete_phase, staging_healthy
from tests.environments.runnerfixtures import BRANCH_TAG

DEPLOYMENTS = "/api/v1/teams/payments/environments/{env}/deployments"
STAGING = DEPLOYMENTS.format(env="checkout-api-staging")
PRODUCTION = DEPLOYMENTS.format(env="checkout-api-production")


@pytest.mark.django_db
def test_a_deploy_answers_202_with_the_deployment_to_follow(people, staging, token_for, bearer):
    client = bearer(token_for(people["member"], scopes=["deploy", "read"]))
    # No registry scan lists the branch build yet: the API asks for the caller's word, as the page does.
    unconfirmed = client.post(STAGING, {"tag": BRANCH_TAG})
    assert unconfirmed.status_code == 400 and unconfirmed.json()["type"].endswith("/unconfirmed-tag")
    assert "confirm_unverified" in unconfirmed.json()["detail"] and not Deployment.objects.exists()
    response = client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True})
    assert response.status_code == 202, response.content
    body = response.json()
    deployment = Deployment.objects.get()
    assert body["id"] == deployment.pk and body["status"] == "queued" and deployment.channel == "api"
    assert response["Location"] == body["url"] == f"/api/v1/deployments/{deployment.pk}"
    followed = client.get(body["url"]).json()
    assert followed["steps"][0]["outcome"] == "requested" and followed["tag"] == BRANCH_TAG
    assert AuditEvent.objects.filter(action="environment.deploy", outcome="requested", channel="api").exists()


@pytest.mark.django_db
def test_a_refusal_is_a_problem_with_the_gates_words_and_lessons(people, envs, token_for, bearer):
    staging_healthy(envs)
    response = bearer(token_for(people["member"], scopes=["deploy"])).post(
        PRODUCTION, {"kind": "promote", "tag": "v2.15.0"}
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 403 and problem["type"].endswith("/refused")
    assert any("Complete “Shipping with Flux” first" in g for g in problem["gates"])
    assert [lesson["title"] for lesson in problem["lessons"]] == ["Flux lesson 0", "Flux lesson 1"]
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(action="environment.promote", outcome="refused", channel="api").exists()


@pytest.mark.django_db
def test_scopes_narrow_what_a_token_does(people, envs, token_for, bearer):
    request = approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    read_only = bearer(token_for(people["lead"], scopes=["read", "deploy"]))
    grant = f"/api/v1/teams/payments/environments/checkout-api-production/approvals/{request.pk}/grant"
    assert read_only.post(grant).status_code == 403
    assert Approval.objects.get().state == "pending"
    approver = bearer(token_for(people["lead"], scopes=["approve"]))
    response = approver.post(grant)
    assert response.status_code == 202 and response.json()["state"] == "approved"
    # The requester cannot approve their own request, whatever their token says.
    other = approval(envs["production"], tag="v2.16.0", requested_by=people["lead"])
    own = f"/api/v1/teams/payments/environments/checkout-api-production/approvals/{other.pk}/grant"
    assert approver.post(own).status_code == 403


@pytest.mark.django_db
def test_the_same_idempotency_key_returns_the_first_result(people, staging, token_for, bearer):
    client = bearer(token_for(people["member"], scopes=["deploy"]))
    first = client.post(
        STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True}, headers={"Idempotency-Key": "build-42"}
    )
    again = client.post(
        STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True}, headers={"Idempotency-Key": "build-42"}
    )
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() and Deployment.objects.count() == 1
    other = client.post(STAGING, {"tag": "other-tag"}, headers={"Idempotency-Key": "build-42"})
    assert other.status_code == 422 and Deployment.objects.count() == 1
    # Another token's key is its own.
    mine = bearer(token_for(people["member"], scopes=["deploy"]))
    assert (
        mine.post(
            STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True}, headers={"Idempotency-Key": "build-42"}
        ).status_code
        == 202
    )
    assert Deployment.objects.count() == 2


@pytest.mark.django_db
def test_writes_are_rate_limited_per_token(people, staging, token_for, bearer, settings):
    settings.SHIRUBE_API_WRITE_LIMIT = 2
    client = bearer(token_for(people["member"], scopes=["deploy", "read"]))
    assert client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True}).status_code == 202
    assert (
        client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True}).status_code == 202
    )  # a second deployment, queued
    limited = client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True})
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert Deployment.objects.count() == 2
    assert client.get("/api/v1/me").status_code == 200  # reads have their own budget
    assert (
        bearer(token_for(people["member"], scopes=["deploy"]))
        .post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True})
        .status_code
        == 202
    )


@pytest.mark.django_db
def test_a_service_token_deploys_only_where_the_environment_allows_it(
    people, teams, staging, token_for, bearer
):
    value = token_for(people["lead"], scopes=["deploy"], team=teams["payments"], environments=[staging])
    client = bearer(value)
    refused = client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True})
    assert refused.status_code == 403 and "does not take service tokens" in refused.json()["detail"]
    staging.allow_service_tokens = True
    staging.save()
    response = client.post(STAGING, {"tag": BRANCH_TAG, "confirm_unverified": True})
    assert response.status_code == 202, response.content
    deployment = Deployment.objects.get()
    assert deployment.requested_by == ApiToken.objects.get(kind="service").user


@pytest.mark.django_db
def test_a_service_token_never_acts_outside_its_list(people, teams, envs, token_for, bearer):
    envs["production"].allow_service_tokens = True
    envs["production"].save()
    staging_healthy(envs)
    value = token_for(
        people["lead"], scopes=["deploy"], team=teams["payments"], environments=[envs["staging"]]
    )
    response = bearer(value).post(PRODUCTION, {"kind": "promote", "tag": "v2.15.0"})
    assert (
        response.status_code == 403 and "may not change checkout-api-production" in response.json()["detail"]
    )
    complete_phase(
        people["member"], envs["production"].required_phases.get()
    )  # people's lessons count for nobody else
    assert bearer(value).post(PRODUCTION, {"kind": "promote", "tag": "v2.15.0"}).status_code == 403
    assert not Deployment.objects.exists()


@pytest.mark.django_db
def test_a_refusal_is_the_first_result_too(people, envs, token_for, bearer):
    client = bearer(token_for(people["member"], scopes=["deploy"]))
    body, key = {"kind": "promote", "tag": "v2.15.0"}, {"Idempotency-Key": "promote-1"}
    first = client.post(PRODUCTION, body, headers=key)
    again = client.post(PRODUCTION, body, headers=key)
    assert first.status_code == again.status_code == 403
    assert first.json() == again.json() and first.json()["type"].endswith("/refused")


@pytest.mark.django_db
def test_ask_for_an_approval_and_have_it_declined(people, envs, token_for, bearer):
    approvals = "/api/v1/teams/payments/environments/checkout-api-production/approvals"
    asked = bearer(token_for(people["member"], scopes=["deploy", "read"])).post(
        approvals, {"tag": "v2.15.0", "reason": "release 2.15"}
    )
    assert asked.status_code == 202 and asked.json()["state"] == "pending"
    assert asked["Location"] == approvals
    lead = bearer(token_for(people["lead"], scopes=["approve"]))
    declined = lead.post(
        f"{approvals}/{asked.json()['id']}/decline", {"reason": "wait for the freeze to end"}
    )
    assert declined.status_code == 202 and declined.json()["state"] == "declined"
    assert Approval.objects.get().decline_reason == "wait for the freeze to end"
    assert AuditEvent.objects.filter(action="environment.decline", channel="api").exists()


@pytest.mark.django_db
def test_reads_are_rate_limited_per_token(people, token_for, bearer, settings):
    settings.SHIRUBE_API_READ_LIMIT = 3
    client = bearer(token_for(people["member"]))
    assert [client.get("/api/v1/me").status_code for _ in range(5)] == [200, 200, 200, 429, 429]
    assert bearer(token_for(people["member"])).get("/api/v1/me").status_code == 200

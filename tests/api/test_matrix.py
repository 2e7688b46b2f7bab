"""The pages' permission matrix, repeated through the API for each token kind and scope: a token
never does more than its owner may on the pages, nor more than its scopes say."""

from __future__ import annotations

import pytest

from apps.clusters.models import FluxObject
from tests.environments.envfixtures import approval, complete_phase, staging_healthy

pytestmark = pytest.mark.django_db

ACTORS = {"member", "lead", "sre"}  # who may act on payments' environments at all (tests/environments)
APPROVERS = {"lead", "sre"}
ROLES = ["other team", "member", "lead", "sre"]
ENV = "/api/v1/teams/payments/environments/"
EVERY = ["read", "deploy", "approve", "flux"]


def _scopes(needed: str, given: bool) -> list[str]:
    return EVERY if given else [s for s in EVERY if s != needed]


@pytest.mark.parametrize("has_scope", [True, False])
@pytest.mark.parametrize("role", ROLES)
def test_deploy_to_staging(envs, people, token_for, bearer, role, has_scope):
    client = bearer(token_for(people[role], scopes=_scopes("deploy", has_scope)))
    status = client.post(
        ENV + "checkout-api-staging/deployments",
        {"tag": "feature-x-3f2a1c9-1732600000", "confirm_unverified": True},
    ).status_code
    assert status == (202 if role in ACTORS and has_scope else 403)


@pytest.mark.parametrize("has_scope", [True, False])
@pytest.mark.parametrize("role", ROLES)
def test_promote_to_production_with_lessons_and_an_approval(envs, people, flux_phase, token_for, bearer, role,
                                                            has_scope):  # fmt: skip
    staging_healthy(envs)
    complete_phase(people[role], flux_phase[0])
    approver = people["other lead"] if role != "other lead" else people["sre"]
    approval(envs["production"], tag="v2.15.0", requested_by=people[role], approved_by=approver)
    client = bearer(token_for(people[role], scopes=_scopes("deploy", has_scope)))
    status = client.post(ENV + "checkout-api-production/deployments", {"kind": "promote", "tag": "v2.15.0"})
    assert status.status_code == (202 if role in ACTORS and has_scope else 403), status.content


@pytest.mark.parametrize("has_scope", [True, False])
@pytest.mark.parametrize("role", ROLES)
def test_grant_an_approval(envs, people, token_for, bearer, role, has_scope):
    request = approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    client = bearer(token_for(people[role], scopes=_scopes("approve", has_scope)))
    status = client.post(ENV + f"checkout-api-production/approvals/{request.pk}/grant").status_code
    assert status == (202 if role in APPROVERS and has_scope else 403)


@pytest.mark.parametrize("has_scope", [True, False])
@pytest.mark.parametrize("role", ROLES)
def test_reconcile_a_flux_object(envs, people, token_for, bearer, role, has_scope):
    FluxObject.objects.create(
        cluster=envs["cluster"], kind="HelmRelease", namespace="payments-staging", name="cache", uid="hr",
        resource_version="1", api_version="helm.toolkit.fluxcd.io/v2", ready_status="True",
    )  # fmt: skip
    client = bearer(token_for(people[role], scopes=_scopes("flux", has_scope)))
    status = client.post("/api/v1/flux-actions", {"cluster": "demo-rows", "kind": "HelmRelease",
                                                  "namespace": "payments-staging", "name": "cache",
                                                  "action": "reconcile"}).status_code  # fmt: skip
    assert status == (202 if role in ACTORS and has_scope else 403)


@pytest.mark.parametrize("allowed", [True, False])
def test_a_service_token_deploys_to_staging_only_when_allowed_and_never_promotes(
    envs, people, teams, flux_phase, token_for, bearer, allowed
):
    for env in envs["staging"], envs["production"]:
        env.allow_service_tokens = allowed
        env.save()
    staging_healthy(envs)
    value = token_for(people["lead"], scopes=["read", "deploy"], team=teams["payments"],
                      environments=[envs["staging"]])  # fmt: skip
    client = bearer(value)
    deploy = client.post(
        ENV + "checkout-api-staging/deployments",
        {"tag": "feature-x-3f2a1c9-1732600000", "confirm_unverified": True},
    )
    assert deploy.status_code == (202 if allowed else 403)
    promote = client.post(ENV + "checkout-api-production/deployments", {"kind": "promote", "tag": "v2.15.0"})
    assert promote.status_code == 403
    request = approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    assert client.post(ENV + f"checkout-api-production/approvals/{request.pk}/grant").status_code == 403

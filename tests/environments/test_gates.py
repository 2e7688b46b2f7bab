"""The permission and gate matrix: deploy, promote, approve, roll back, pin, unpin × role × conditions.

Expectations are written out as tables (who may, under which conditions), not
recomputed with the code under test. Every case also goes through the service,
so a refusal is audited and creates nothing.
"""

from __future__ import annotations

import itertools

import pytest

from apps.audit.models import AuditEvent
from apps.environments import gates, services
from apps.environments.models import Deployment, HealthyTag
from tests.environments.envfixtures import (
    ROLES,
    approval,
    complete_phase,
    pods_running,
    staging_healthy,
)

pytestmark = pytest.mark.django_db

ACTORS = {"member", "lead", "sre"}  # who may act on payments' environments at all
APPROVERS = {"lead", "sre"}


def _request(user, environment, kind, tag=""):
    """The gates of who asks; the tag's existence is not what these tables test (see test_tags.py)."""
    key = f"{kind}-{getattr(user, 'pk', 'anon')}-{environment.pk}-{tag}"
    return services.deployment_request(
        user=user, environment=environment, kind=kind, tag=tag, idempotency_key=key, confirm_unverified=True
    )


def _outcome(user, environment, kind, tag=""):
    before = AuditEvent.objects.count()
    try:
        deployment = _request(user, environment, kind, tag)
    except services.RequestRefused as exc:
        assert Deployment.objects.filter(environment=environment, kind=kind).count() == 0
        event = AuditEvent.objects.order_by("-id").first()
        assert AuditEvent.objects.count() == before + 1 and event.outcome in ("refused", "failed")
        assert event.message == str(exc)
        return "refused"
    assert deployment.status == Deployment.Status.QUEUED
    return "queued"


# -- staging: deploy, pin, follow (role only: no phases, no approval) -------------------


@pytest.mark.parametrize("role", ROLES)
def test_deploy_to_staging_is_for_members_leads_and_sres(envs, people, role):
    expected = "queued" if role in ACTORS else "refused"
    assert _outcome(people[role], envs["staging"], "deploy", "feature-x-3f2a1c9-1732600000") == expected


@pytest.mark.parametrize("role", ROLES)
def test_pin_is_for_members_leads_and_sres(envs, people, role):
    expected = "queued" if role in ACTORS else "refused"
    assert _outcome(people[role], envs["staging"], "pin") == expected


@pytest.mark.parametrize("role", ROLES)
def test_follow_automation_again_is_for_members_leads_and_sres(envs, people, role):
    staging = envs["staging"]
    staging.git_marker = ""  # pinned
    staging.save()
    expected = "queued" if role in ACTORS else "refused"
    assert _outcome(people[role], staging, "follow") == expected


GATED = {
    "production": {"stage": "production"},
    "approval required": {"requires_approval": True},
    "promoted from another": {"promotes_from": "production"},
}


@pytest.mark.parametrize("gated_by", GATED)
@pytest.mark.parametrize("role", ["member", "lead", "sre"])
def test_follow_automation_is_refused_wherever_tag_changes_are_gated(envs, people, role, gated_by):
    """Automation would move the tag later with no approval or promotion: nobody may switch it on there."""
    staging = envs["staging"]
    staging.git_marker = ""  # pinned, so "follow" would apply
    for name, value in GATED[gated_by].items():
        setattr(staging, name, envs[value] if name == "promotes_from" else value)
    if gated_by == "production":
        envs["production"].delete()  # one checkout-api-production per team
    staging.save()

    assert _outcome(people[role], staging, "follow") == "refused"
    verdict = gates.environment_verdict(user=people[role], environment=staging, action="follow")
    assert "never follows image automation" in verdict.reason


def test_pin_is_refused_when_already_pinned_and_follow_when_already_following(envs, people):
    staging = envs["staging"]
    assert _outcome(people["member"], staging, "follow") == "refused"
    staging.git_marker = ""
    staging.save()
    assert _outcome(people["member"], staging, "pin") == "refused"


def test_a_lead_only_environment_refuses_members(envs, people):
    staging = envs["staging"]
    staging.required_role = "lead"
    staging.save()
    assert _outcome(people["member"], staging, "deploy", "v1") == "refused"
    assert _outcome(people["lead"], staging, "deploy", "v1") == "queued"


def test_an_sre_only_environment_refuses_leads(envs, people):
    staging = envs["staging"]
    staging.required_role = "sre"
    staging.save()
    assert _outcome(people["lead"], staging, "deploy", "v1") == "refused"
    assert _outcome(people["sre"], staging, "deploy", "v1") == "queued"


def test_production_takes_tags_only_by_promotion(envs, people):
    assert _outcome(people["sre"], envs["production"], "deploy", "v9") == "refused"


# -- production: promote and roll back × role × phases × approval × staging ------------

APPROVAL_STATES = ("none", "valid", "expired", "own", "pending")


def _setup_approval(envs, people, role, state, tag):
    production = envs["production"]
    requester = people["member"] if role != "member" else people["lead"]
    if state == "valid":
        approval(production, tag=tag, requested_by=requester, approved_by=people["other lead"])
    elif state == "expired":
        approval(production, tag=tag, requested_by=requester, approved_by=people["other lead"], expired=True)
    elif state == "own" and role in people and role != "anonymous":
        approval(production, tag=tag, requested_by=requester, approved_by=people[role])
    elif state == "pending":
        approval(production, tag=tag, requested_by=requester)


def _expected(role, phases_done, approval_state, staging_ok=True):
    if role not in ACTORS:
        return "refused"
    if not phases_done and role != "sre":  # SREs are exempt from the learning gate
        return "refused"
    if approval_state != "valid":
        return "refused"
    return "queued" if staging_ok else "refused"


@pytest.mark.parametrize(
    "role,phases_done,approval_state,staging_ok",
    list(itertools.product(ROLES, (True, False), APPROVAL_STATES, (True, False))),
)
def test_promote_matrix(envs, people, flux_phase, role, phases_done, approval_state, staging_ok):
    tag = "v2.15.0"
    if staging_ok:
        staging_healthy(envs, tag)
    else:
        staging_healthy(envs, tag)
        pods_running(envs["staging"], tag, ready=False)  # rolling out: not healthy
    user = people[role]
    if phases_done and role != "anonymous":
        complete_phase(user, flux_phase[0])
    _setup_approval(envs, people, role, approval_state, tag)
    assert _outcome(user, envs["production"], "promote", tag) == _expected(
        role, phases_done, approval_state, staging_ok
    )


@pytest.mark.parametrize(
    "role,phases_done,approval_state", list(itertools.product(ROLES, (True, False), APPROVAL_STATES))
)
def test_rollback_matrix(envs, people, flux_phase, role, phases_done, approval_state):
    production = envs["production"]
    HealthyTag.objects.create(environment=production, tag="v2.14.2")  # ran healthy before v2.14.3
    user = people[role]
    if phases_done and role != "anonymous":
        complete_phase(user, flux_phase[0])
    _setup_approval(envs, people, role, approval_state, "v2.14.2")
    assert _outcome(user, production, "rollback") == _expected(role, phases_done, approval_state)


def test_rollback_goes_to_the_last_tag_seen_healthy_never_one_that_only_was_in_git(envs, people, flux_phase):
    production = envs["production"]  # git: v2.14.3
    assert gates.rollback_tag(production) == ""
    # The deployment before went from v2.14.2, a tag that never ran (a typo), to v2.14.3.
    Deployment.objects.create(environment=production, kind="promote", tag="v2.14.3", previous_tag="v2.14.2",
                              sha="a" * 40, status="healthy", idempotency_key="k1")  # fmt: skip
    assert gates.rollback_tag(production) == ""
    services.healthy_tag_record(environment=production, tag="v2.14.1")
    services.healthy_tag_record(environment=production, tag="v2.14.3")  # git's own: not a target
    assert gates.rollback_tag(production) == "v2.14.1"
    HealthyTag.objects.create(environment=production, tag="v2.14.2")
    assert gates.rollback_tag(production) == "v2.14.2"  # the most recently seen healthy
    complete_phase(people["lead"], flux_phase[0])
    approval(production, tag="v2.14.2", requested_by=people["lead"], approved_by=people["sre"])
    deployment = _request(people["lead"], production, "rollback")
    assert deployment.tag == "v2.14.2"


def test_a_promotion_takes_only_the_tag_that_runs_healthy_in_staging(envs, people, flux_phase):
    staging_healthy(envs, "v2.15.0")
    complete_phase(people["lead"], flux_phase[0])
    approval(envs["production"], tag="v2.16.0", requested_by=people["member"], approved_by=people["sre"])
    with pytest.raises(services.RequestRefused, match="not running healthy in checkout-api-staging"):
        _request(people["lead"], envs["production"], "promote", "v2.16.0")


def test_the_phase_gate_names_the_lessons_that_unlock_it(envs, people, flux_phase):
    phase, lessons = flux_phase
    verdict = gates.environment_verdict(user=people["member"], environment=envs["production"], action="promote",
                                        tag="v2.15.0")  # fmt: skip
    gate = next(g for g in verdict.failing if g.key == "phases")
    assert (
        gate.lessons == lessons and "Shipping with Flux" in gate.message and "2 lessons to go" in gate.message
    )
    complete_phase(people["member"], phase)
    verdict = gates.environment_verdict(user=people["member"], environment=envs["production"], action="promote",
                                        tag="v2.15.0")  # fmt: skip
    assert all(g.key != "phases" for g in verdict.failing)


def test_an_approval_is_used_once(envs, people, flux_phase):
    staging_healthy(envs, "v2.15.0")
    complete_phase(people["member"], flux_phase[0])
    complete_phase(people["lead"], flux_phase[0])
    approval(envs["production"], tag="v2.15.0", requested_by=people["member"], approved_by=people["sre"])
    first = _request(people["member"], envs["production"], "promote", "v2.15.0")
    assert first.approval is not None
    first.approval.refresh_from_db()
    assert first.approval.used_at is not None
    with pytest.raises(services.RequestRefused, match="needs an approval"):
        services.deployment_request(user=people["lead"], environment=envs["production"], kind="promote",
                                    tag="v2.15.0", idempotency_key="another")  # fmt: skip


# -- approve × role × own request -------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("own", (False, True))
def test_approve_matrix(envs, people, role, own):
    requester = people[role] if own and role != "anonymous" else people["member"]
    if own and role == "member":
        requester = people["member"]
    pending = approval(envs["production"], tag="v2.15.0", requested_by=requester)
    allowed = role in APPROVERS and not own
    if allowed:
        granted = services.approval_grant(user=people[role], approval=pending)
        assert granted.approved_by == people[role] and granted.state == "approved"
        assert AuditEvent.objects.filter(action="environment.approve", outcome="succeeded").count() == 1
    else:
        with pytest.raises(services.RequestRefused):
            services.approval_grant(user=people[role], approval=pending)
        pending.refresh_from_db()
        assert pending.approved_by is None
        assert AuditEvent.objects.filter(action="environment.approve", outcome="refused").count() == 1


def test_an_expired_request_cannot_be_approved(envs, people):
    stale = approval(envs["production"], tag="v2.15.0", requested_by=people["member"], expired=True)
    with pytest.raises(services.RequestRefused, match="expired"):
        services.approval_grant(user=people["lead"], approval=stale)


def test_an_approval_lasts_the_environment_ttl_from_when_it_is_given(envs, people):
    production = envs["production"]
    production.approval_ttl_hours = 2
    production.save()
    asked = services.approval_request(user=people["member"], environment=production, tag="v2.15.0")
    granted = services.approval_grant(user=people["lead"], approval=asked)
    hours = (granted.expires_at - granted.approved_at).total_seconds() / 3600
    assert hours == pytest.approx(2)


def test_members_of_other_teams_cannot_ask_for_approval(envs, people):
    with pytest.raises(services.RequestRefused):
        services.approval_request(user=people["other team"], environment=envs["production"], tag="v2.15.0")

"""Approvals count only while their approver may approve, and last a bounded time (issue 11, lower items).

An approval stayed valid after its approver lost the lead role; a very large
approval lifetime gave a 500. Both through the real service, view and runner.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import SRE_GROUP, Membership
from apps.audit.models import AuditEvent
from apps.environments import runner, services
from apps.environments.models import APPROVAL_TTL_MAX_HOURS, Approval, Deployment, Environment
from portal.env import env_int
from tests.environments.envfixtures import approval, complete_phase, staging_healthy

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TAG = "v2.15.0"


def promote(user, production, key="promote"):
    return services.deployment_request(
        user=user, environment=production, kind="promote", tag=TAG, idempotency_key=key
    )


@pytest.fixture
def ready(envs, people, flux_phase):
    """Staging runs the tag healthy and the member has done the lessons: only the approval decides."""
    staging_healthy(envs, TAG)
    complete_phase(people["member"], flux_phase[0])
    return envs["production"]


def lose_lead_role(user) -> None:
    Membership.objects.filter(user=user).update(role=Membership.Role.MEMBER)


def leave_team(user) -> None:
    Membership.objects.filter(user=user).delete()


def deactivate(user) -> None:
    type(user).objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize("change", [lose_lead_role, leave_team, deactivate], ids=lambda f: f.__name__)
def test_an_approval_stops_counting_when_its_approver_may_no_longer_approve(change, ready, people):
    given = approval(ready, tag=TAG, requested_by=people["member"], approved_by=people["lead"])
    change(people["lead"])

    with pytest.raises(services.RequestRefused, match="carol may no longer approve"):
        promote(people["member"], ready)

    given.refresh_from_db()
    assert given.used_at is None and not Deployment.objects.exists()


def test_an_sre_s_approval_stops_counting_when_they_leave_the_sre_group(ready, people):
    approval(ready, tag=TAG, requested_by=people["member"], approved_by=people["sre"])
    people["sre"].groups.remove(*people["sre"].groups.filter(name=SRE_GROUP))

    with pytest.raises(services.RequestRefused, match="may no longer approve"):
        promote(people["member"], ready)


def test_an_approval_from_someone_still_a_lead_counts(ready, people):
    approval(ready, tag=TAG, requested_by=people["member"], approved_by=people["lead"])

    assert promote(people["member"], ready).approval.approved_by == people["lead"]


def test_a_deployment_queued_with_an_approval_fails_if_the_approver_lost_the_role_before_it_ran(
    ready, people
):
    approval(ready, tag=TAG, requested_by=people["member"], approved_by=people["lead"])
    deployment = promote(people["member"], ready)
    lose_lead_role(people["lead"])

    assert runner.deployment_advance(deployment_id=deployment.pk) is None

    deployment.refresh_from_db()
    assert (deployment.status, deployment.failed_step) == ("failed", "gates")
    assert "carol may no longer approve" in deployment.message
    assert deployment.sha == ""


# --- the lifetime ---------------------------------------------------------------------------


def test_the_model_bounds_the_approval_lifetime(envs):
    production = envs["production"]
    for hours in (0, APPROVAL_TTL_MAX_HOURS + 1, 10**9):
        production.approval_ttl_hours = hours
        with pytest.raises(ValidationError) as caught:
            production.full_clean()
        assert "approval_ttl_hours" in caught.value.message_dict
    production.approval_ttl_hours = APPROVAL_TTL_MAX_HOURS
    production.full_clean()


def test_the_admin_refuses_a_huge_lifetime_with_a_message(envs, client_for, admin_user):
    production = envs["production"]
    data = {
        "team": production.team_id, "app": production.app, "stage": production.stage,
        "cluster": production.cluster_id, "namespace": production.namespace,
        "kustomization": production.kustomization, "repo_url": "https://git.example/acme/gitops.git",
        "branch": "main", "kustomization_path": production.kustomization_path, "image": production.image,
        "image_repository": production.image_repository, "promotes_from": production.promotes_from_id,
        "required_role": "member", "requires_approval": "on", "approval_ttl_hours": "2000000000",
    }  # fmt: skip

    response = client_for(admin_user).post(f"/admin/environments/environment/{production.pk}/change/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert f"less than or equal to {APPROVAL_TTL_MAX_HOURS}" in " ".join(errors["approval_ttl_hours"])
    production.refresh_from_db()
    assert production.approval_ttl_hours is None


def test_a_huge_lifetime_written_before_the_fix_is_bounded_at_use_instead_of_a_500(envs, people, client_for):
    production = envs["production"]
    Environment.objects.filter(pk=production.pk).update(approval_ttl_hours=2_000_000_000)
    page = reverse("environments:detail", args=["payments", production.slug])
    member = client_for(people["member"])

    assert member.get(page).status_code == 200
    response = member.post(
        reverse("environments:approvals", args=["payments", production.slug]), {"tag": TAG}
    )

    assert response.status_code == 302
    asked = Approval.objects.get()
    lasts = asked.expires_at - timezone.now()
    assert timedelta(hours=APPROVAL_TTL_MAX_HOURS - 1) < lasts <= timedelta(hours=APPROVAL_TTL_MAX_HOURS)
    granted = services.approval_grant(user=people["lead"], approval=asked)
    assert granted.expires_at - granted.approved_at == timedelta(hours=APPROVAL_TTL_MAX_HOURS)


def test_the_default_lifetime_setting_is_bounded_too():
    environ = {"SHIRUBE_APPROVAL_TTL_HOURS": str(APPROVAL_TTL_MAX_HOURS + 1)}
    with pytest.raises(ImproperlyConfigured, match=f"at most {APPROVAL_TTL_MAX_HOURS}"):
        env_int("SHIRUBE_APPROVAL_TTL_HOURS", 24, minimum=1, maximum=APPROVAL_TTL_MAX_HOURS, environ=environ)
    # And the settings module applies that bound: the process stops at start-up, naming the variable.
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "true",
             "SHIRUBE_VAR_DIR": os.environ["SHIRUBE_VAR_DIR"], **environ},
    )  # fmt: skip
    assert result.returncode != 0
    assert f"SHIRUBE_APPROVAL_TTL_HOURS={APPROVAL_TTL_MAX_HOURS + 1} must be at most" in result.stderr


# -- Asking, declining, using (issue 13) ---------------------------------------------------


def _ask(client, production, reason):
    return client.post(
        reverse("environments:approvals", args=["payments", production.slug]), {"tag": TAG, "reason": reason}
    )


def test_a_second_request_keeps_its_reason(ready, people, client_for):
    assert _ask(client_for(people["member"]), ready, "checkout fix for INC-7").status_code == 302
    assert _ask(client_for(people["lead"]), ready, "also unblocks the refund rollout").status_code == 302
    (asked,) = Approval.objects.all()  # still one request for the tag
    assert asked.requested_by == people["member"]
    assert asked.reason == "checkout fix for INC-7\ncarol: also unblocks the refund rollout"
    events = AuditEvent.objects.filter(action="environment.approval", outcome="requested").order_by("id")
    assert [e.parameters["reason"] for e in events] == [
        "checkout fix for INC-7",
        "also unblocks the refund rollout",
    ]
    page = client_for(people["sre"]).get(reverse("environments:detail", args=["payments", ready.slug]))
    assert "also unblocks the refund rollout" in page.content.decode()


def test_a_lead_declines_with_a_comment_and_the_requester_sees_why(ready, people, client_for):
    asked = services.approval_request(user=people["member"], environment=ready, tag=TAG, reason="fix")
    decline = reverse("environments:decline", args=["payments", ready.slug, asked.pk])
    lead = client_for(people["lead"])
    refused = lead.post(decline, {"reason": ""})
    assert refused.status_code == 400 and "Say why you decline" in refused.content.decode()
    assert lead.post(decline, {"reason": "wait for the load test"}).status_code == 302
    asked.refresh_from_db()
    assert (asked.state, asked.declined_by, asked.decline_reason) == (
        "declined",
        people["lead"],
        "wait for the load test",
    )
    refusal, event = AuditEvent.objects.filter(action="environment.decline").order_by("id")
    assert refusal.outcome == "failed" and "Say why" in refusal.message
    assert event.outcome == "succeeded" and event.parameters["reason"] == "wait for the load test"
    # The requester's gate says who declined and why; the page shows it.
    member = client_for(people["member"])
    refused = member.post(reverse("environments:deployments", args=["payments", ready.slug]),
                          {"kind": "promote", "tag": TAG, "idempotency_key": "after-decline"})  # fmt: skip
    assert refused.status_code == 403 and "carol declined v2.15.0: “wait for the load test”" in (
        refused.content.decode()
    )
    # A declined request cannot be approved afterwards, and asking again opens a new one.
    with pytest.raises(services.RequestRefused, match="declined"):
        services.approval_grant(user=people["sre"], approval=asked)
    again = services.approval_request(
        user=people["member"], environment=ready, tag=TAG, reason="load test ok"
    )
    assert again.pk != asked.pk and again.state == "pending"


@pytest.mark.parametrize("who", ["member", "other team", "requester"])
def test_only_leads_and_sres_decline_and_never_their_own_request(ready, people, who):
    asked = services.approval_request(user=people["lead"], environment=ready, tag=TAG, reason="fix")
    user = people["lead"] if who == "requester" else people[who]
    with pytest.raises(services.RequestRefused):
        services.approval_decline(user=user, approval=asked, reason="no")
    asked.refresh_from_db()
    assert asked.state == "pending"
    assert AuditEvent.objects.filter(action="environment.decline", outcome="refused").count() == 1


def test_used_by_names_the_person_who_used_it(ready, people, client_for):
    asked = services.approval_request(user=people["lead"], environment=ready, tag=TAG, reason="fix")
    services.approval_grant(user=people["sre"], approval=asked)
    promote(people["member"], ready)  # alice uses the approval carol asked for
    asked.refresh_from_db()
    assert asked.used_by == people["member"] and asked.state == "used"
    page = client_for(people["lead"]).get(reverse("environments:detail", args=["payments", ready.slug]))
    state = page.content.decode().split('data-testid="approval-state">', 1)[1].split("</td>", 1)[0]
    assert state.startswith("used by alice") and "approved by sre-user" in state


@pytest.mark.parametrize(
    "role,offered", [("other team", False), ("member", True), ("lead", True), ("sre", True)]
)
def test_the_ask_form_is_offered_only_to_people_who_may_ask(ready, people, client_for, role, offered):
    body = client_for(people[role]).get(reverse("environments:detail", args=["payments", ready.slug]))
    html = body.content.decode()
    assert ("Ask for approval</button>" in html) is offered
    if not offered:
        assert "Only members of Payments may change this environment" in html
        with pytest.raises(services.RequestRefused):
            services.approval_request(user=people[role], environment=ready, tag=TAG, reason="x")

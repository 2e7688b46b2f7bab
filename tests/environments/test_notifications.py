"""What environments tell, to whom: approvals, deployment outcomes, production changes (issue 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.environments import runner, services
from apps.environments.models import Deployment
from apps.notifications.models import Delivery, Notification, SlackLink
from tests.environments.runnerfixtures import BRANCH_TAG, drive, request
from tests.harness.notify_fixtures import _slack_server, _smtp_server, slack, smtp  # noqa: F401
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


def linked(user, slack_id: str, email: str):
    user.email = email
    user.save()
    SlackLink.objects.create(user=user, slack_team_id="T0SHIRUBE", slack_user_id=slack_id, via="code")
    return user


def recipients(kind: str) -> set[str]:
    return set(Delivery.objects.filter(notification__kind=kind).values_list("address", flat=True))


def test_an_approval_request_reaches_the_leads_at_once_and_not_the_requester(slack, smtp, envs, people):  # noqa: F811
    linked(people["lead"], "U0CAROL", "carol@example.com")
    linked(people["other lead"], "U0DAVE", "dave@example.com")
    linked(people["member"], "U0ALICE", "alice@example.com")
    linked(people["other team"], "U0BOB", "bob@example.com")
    linked(people["sre"], "U0SRE", "sre@example.com")
    services.approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    assert recipients("approval.requested") == {"U0CAROL", "carol@example.com", "U0DAVE", "dave@example.com"}
    drain()
    [mail] = smtp.to("carol@example.com")
    assert mail["Subject"] == "[Shirube] alice asks you to approve v2.15.0 for checkout-api-production"
    assert "/teams/payments/environments/checkout-api-production/" in mail.get_payload()


def test_sres_hear_of_approval_requests_where_the_environment_says_so(slack, envs, people):  # noqa: F811
    linked(people["sre"], "U0SRE", "sre@example.com")
    envs["production"].approvals_notify_sres = True
    envs["production"].save()
    services.approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    assert "U0SRE" in recipients("approval.requested")


def test_a_decline_on_the_web_tells_the_requester_why(slack, envs, people, client_for):  # noqa: F811
    linked(people["member"], "U0ALICE", "alice@example.com")
    approval = services.approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    page = client_for(people["lead"]).post(
        f"/teams/payments/environments/checkout-api-production/approvals/{approval.pk}/decline/",
        {"reason": "Wait for the load test"},
    )
    assert page.status_code == 302
    approval.refresh_from_db()
    assert approval.state == "declined"
    drain()
    [told] = slack.posted("U0ALICE")
    assert told["text"] == "carol declined v2.15.0 for checkout-api-production\nWhy: Wait for the load test"
    # A declined tag says so at the gate, and asking again opens a new request.
    verdict_page = client_for(people["member"]).get("/teams/payments/environments/checkout-api-production/")
    assert b"Wait for the load test" in verdict_page.content
    again = services.approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    assert again.pk != approval.pk and again.state == "pending"


def test_the_requester_cannot_decline_their_own_request(envs, people):
    approval = services.approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    with pytest.raises(services.RequestRefused, match="someone else must give it"):
        services.approval_decline(user=people["member"], approval=approval, reason="no")


def test_a_finished_deployment_tells_the_requester_and_the_teams_channel(slack, smtp, staging, alice, flux):  # noqa: F811
    linked(alice, "U0ALICE", "alice@example.com")
    staging.team.slack_channel = "C0PAYMENTS"
    staging.team.save()
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "healthy"
    assert recipients("deployment.finished") == {"U0ALICE", "alice@example.com", "C0PAYMENTS"}
    assert not Notification.objects.filter(kind="deployment.progress").exists()  # no Slack thread: no steps
    drain()
    [told] = slack.posted("C0PAYMENTS")
    assert told["text"].startswith(f"Deploy of {BRANCH_TAG} to checkout-api-staging succeeded")
    assert "thread_ts" not in told


def test_a_failed_deployment_names_the_step_to_requester_and_channel(slack, smtp, staging, alice, flux, sim):  # noqa: F811
    from tests.environments.runnerfixtures import KUSTOMIZATIONS

    def suspend(obj):
        obj["spec"]["suspend"] = True

    linked(alice, "U0ALICE", "alice@example.com")
    staging.team.slack_channel = "C0PAYMENTS"
    staging.team.save()
    sim.store.update(KUSTOMIZATIONS, "flux-system", "payments-staging", suspend)
    deployment = request(alice, staging)
    assert drive(deployment, flux)[-1] == "failed"
    assert recipients("deployment.finished") == {"U0ALICE", "alice@example.com", "C0PAYMENTS"}
    drain()
    title = f"Deploy of {BRANCH_TAG} to checkout-api-staging failed at reconcile"
    [told] = slack.posted("C0PAYMENTS")
    assert told["text"].startswith(title) and "suspended" in told["text"]
    [direct] = slack.posted("U0ALICE")
    assert direct["text"].startswith(title)
    [mail] = smtp.to("alice@example.com")
    assert mail["Subject"] == f"[Shirube] {title}" and "suspended" in mail.get_payload()


def test_a_timed_out_deployment_names_the_step(slack, envs, people):  # noqa: F811
    linked(people["member"], "U0ALICE", "alice@example.com")
    deployment = Deployment.objects.create(
        environment=envs["staging"], kind="deploy", tag="v2.16.0", requested_by=people["member"],
        idempotency_key="k", status="committed", sha="a" * 40,
        step_started_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    runner.deployment_advance(deployment_id=deployment.pk)  # the cluster is unreachable, past the deadline
    [notification] = Notification.objects.filter(kind="deployment.finished")
    assert notification.title == "Deploy of v2.16.0 to checkout-api-staging timed out at reconcile"


def test_a_production_promotion_is_told_to_the_teams_channel_when_it_starts(slack, envs, people, flux_phase):  # noqa: F811
    from tests.environments.envfixtures import approval, complete_phase, staging_healthy

    envs["production"].team.slack_channel = "C0PAYMENTS"
    envs["production"].team.save()
    complete_phase(people["member"], flux_phase[0])
    staging_healthy(envs)
    approval(envs["production"], tag="v2.15.0", requested_by=people["member"], approved_by=people["lead"])
    services.deployment_request(user=people["member"], environment=envs["production"], kind="promote",
                                tag="v2.15.0", idempotency_key="p1")  # fmt: skip
    [notification] = Notification.objects.filter(kind="production.change")
    assert notification.title == "alice: promote checkout-api-production to v2.15.0"
    assert recipients("production.change") == {"C0PAYMENTS"}

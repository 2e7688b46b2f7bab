"""Deploys and approvals entirely from Slack: the same services, gates, state machine and audit as the web."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.chatops import services
from apps.chatops.models import ChatCommand
from apps.environments.models import Approval, Deployment
from apps.environments.services import approval_request
from apps.notifications.models import SlackLink
from tests.chatops.conftest import link
from tests.environments.envfixtures import complete_phase
from tests.environments.runnerfixtures import BRANCH_TAG, drive
from tests.harness.notify_fixtures import interaction_body, slash_body
from tests.notifications.conftest import drain

pytestmark = pytest.mark.django_db


def run_queued() -> list[str]:
    """What the worker does with each queued command (the task calls exactly this)."""
    return [
        services.command_run(command_id=pk)
        for pk in ChatCommand.objects.filter(done_at=None).values_list("pk", flat=True)
    ]


def command(post_signed, slack, text: str, user_id: str, key: str = "c1") -> str:
    body = slash_body(text, user_id=user_id, response_url=slack.response_url(key))
    assert post_signed("/slack/commands/", body).status_code == 200
    [answer] = run_queued()
    assert slack.responses()[-1]["text"] == answer  # answered through response_url, ephemerally
    assert slack.responses()[-1]["response_type"] == "ephemeral"
    return answer


def test_a_deploy_from_a_signed_slash_command_runs_the_same_state_machine(
    post_signed, slack, staging, alice, flux, client_for
):  # fmt: skip
    link(alice, "U0ALICE")
    answer = command(post_signed, slack, f"deploy checkout-api-staging {BRANCH_TAG}", "U0ALICE")
    deployment = Deployment.objects.get()
    assert f"deployment #{deployment.pk}" in answer
    assert (deployment.requested_by, deployment.kind, deployment.tag, deployment.channel) == (
        alice,
        "deploy",
        BRANCH_TAG,
        "slack",
    )
    assert drive(deployment, flux)[-1] == "healthy"
    drain()
    # The thread: a first message in the channel the command came from, then the steps under it.
    root, *replies = slack.posted("C0DEPLOYS")
    assert f"alice: deploy {BRANCH_TAG} to checkout-api-staging (from Slack)" in root["text"]
    assert replies and all(r["thread_ts"] == root["_ts"] for r in replies)
    assert any(r["text"].startswith("committed: Committed") for r in replies)
    assert "succeeded" in replies[-1]["text"] and replies[-1]["reply_broadcast"] is True
    # Every audit event of it says where it came from.
    events = AuditEvent.objects.filter(correlation=f"deployment-{deployment.pk}")
    assert {e.outcome for e in events} >= {"requested", "committed", "succeeded"}
    assert {e.channel for e in events} == {"slack"}
    # And the web page shows it like any other.
    page = client_for(alice).get("/teams/payments/environments/checkout-api-staging/")
    assert BRANCH_TAG.encode() in page.content and b"healthy" in page.content.lower()


def test_another_teams_user_is_refused_with_the_gates_words_and_audited(post_signed, slack, staging, teams):
    from tests.factories import MembershipFactory, UserFactory

    bob = MembershipFactory(team=teams["search"], user=UserFactory(username="bob")).user
    link(bob, "U0BOB")
    answer = command(post_signed, slack, f"deploy payments/checkout-api-staging {BRANCH_TAG}", "U0BOB")
    assert "Only members of Payments may change this environment." in answer
    assert not Deployment.objects.exists()
    event = AuditEvent.objects.get(action="environment.deploy", outcome="refused")
    assert (event.actor, event.channel) == (bob, "slack")


def test_an_unlinked_user_is_told_how_to_link_and_nothing_happens(post_signed, slack, staging, alice):
    slack_profile(slack, "U0STRANGER", "nobody@example.com", confirmed=True)
    answer = command(post_signed, slack, f"deploy checkout-api-staging {BRANCH_TAG}", "U0STRANGER")
    assert "I do not know who you are in Shirube yet" in answer and "/shirube link <code>" in answer
    assert not Deployment.objects.exists() and not SlackLink.objects.exists()
    event = AuditEvent.objects.get(action="chatops.deploy")
    assert (event.outcome, event.channel, event.actor) == ("refused", "slack", None)
    assert event.target == "slack:T0SHIRUBE/U0STRANGER"


def slack_profile(slack, user_id: str, email: str, *, confirmed: bool) -> None:
    """What the stand-in's users.info answers for this user, as Slack shapes it."""
    slack.users[user_id] = {"id": user_id, "is_email_confirmed": confirmed, "profile": {"email": email}}


def test_a_confirmed_slack_email_links_once_and_acts(post_signed, slack, staging, alice):
    slack_profile(slack, "U0ALICE", "ALICE@example.com", confirmed=True)
    answer = command(post_signed, slack, "status checkout-api-staging", "U0ALICE")
    assert "checkout-api-staging" in answer and "in git" in answer
    assert SlackLink.objects.get().user == alice
    assert AuditEvent.objects.filter(action="config.slacklink", outcome="created").exists()


def test_an_unconfirmed_slack_email_does_not_link(post_signed, slack, staging, alice):
    slack_profile(slack, "U0ALICE", "alice@example.com", confirmed=False)
    answer = command(post_signed, slack, "status checkout-api-staging", "U0ALICE")
    assert "no confirmed e-mail" in answer and not SlackLink.objects.exists()


def test_the_link_flow_from_the_settings_page(post_signed, slack, staging, alice, client_for):
    page = client_for(alice).post("/settings/notifications/slack/link/")
    code = page.content.decode().split("/shirube link ")[1].split("<")[0]
    answer = command(post_signed, slack, f"link {code}", "U0ALICE")
    assert answer == "Linked: in Shirube you are *alice*."
    assert SlackLink.objects.get().slack_user_id == "U0ALICE"
    # A code works once.
    again = command(post_signed, slack, f"link {code}", "U0OTHER", key="c2")
    assert "unknown, used or expired" in again and SlackLink.objects.count() == 1


def test_a_learning_gate_refusal_lists_the_lessons_that_unlock_it(
    post_signed, slack, envs, people, flux_phase
):
    link(people["lead"], "U0CAROL")
    answer = command(post_signed, slack, "promote checkout-api-production v2.15.0", "U0CAROL")
    assert "Complete “Shipping with Flux” first: 2 lessons to go." in answer
    assert "/learn/flux/flux-0/|Flux lesson 0>" in answer and "Flux lesson 1" in answer
    assert AuditEvent.objects.get(action="environment.promote", outcome="refused").channel == "slack"


def approval_message(slack, user_id: str) -> dict:
    [message] = slack.posted(user_id)
    return message


def press_body(slack, *, user_id: str, action_id: str, value: str, key: str = "b1") -> bytes:
    """A button press on a message, as Slack posts it to the interactivity URL."""
    payload = {
        "type": "block_actions", "user": {"id": user_id, "team_id": "T0SHIRUBE"}, "team": {"id": "T0SHIRUBE"},
        "channel": {"id": "D0DIRECT"}, "response_url": slack.response_url(key), "trigger_id": f"trig-{key}",
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }  # fmt: skip
    return interaction_body(payload)


def press(post_signed, slack, *, user_id: str, action_id: str, value: str, key: str = "b1") -> None:
    body = press_body(slack, user_id=user_id, action_id=action_id, value=value, key=key)
    assert post_signed("/slack/interactivity/", body).status_code == 200


def test_an_approval_from_the_request_message_button(post_signed, slack, smtp, envs, people, client_for):
    alice, carol = people["member"], people["lead"]
    alice.email, carol.email = "alice@example.com", "carol@example.com"
    alice.save(), carol.save()
    link(alice, "U0ALICE"), link(carol, "U0CAROL"), link(people["other lead"], "U0DAVE")
    approval = approval_request(
        user=alice, environment=envs["production"], tag="v2.15.0", reason="new checkout"
    )
    drain()
    # Both leads are told within the same drain (a worker does it on commit), by Slack and e-mail.
    message = approval_message(slack, "U0CAROL")
    assert "alice asks you to approve v2.15.0 for checkout-api-production" in message["text"]
    buttons = message["blocks"][-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("approval_approve", str(approval.pk)),
        ("approval_decline", str(approval.pk)),
    ]
    assert approval_message(slack, "U0DAVE") and smtp.to("carol@example.com")
    assert not slack.posted("U0ALICE")  # never the requester

    press(post_signed, slack, user_id="U0CAROL", action_id=buttons[0]["action_id"], value=buttons[0]["value"])
    [answer] = run_queued()
    assert answer.startswith(":white_check_mark: Approved `v2.15.0` for *checkout-api-production*")
    approval.refresh_from_db()
    assert (approval.state, approval.approved_by) == ("approved", carol)
    assert AuditEvent.objects.get(action="environment.approve").channel == "slack"
    drain()
    [told] = slack.posted("U0ALICE")
    assert "carol approved v2.15.0 for checkout-api-production" in told["text"]
    page = client_for(alice).get("/teams/payments/environments/checkout-api-production/")
    assert b"approved by carol" in page.content
    # A second lead pressing Approve later is told by the same gate that it is answered.
    press(
        post_signed, slack, user_id="U0DAVE", action_id="approval_approve", value=str(approval.pk), key="b2"
    )
    assert run_queued() == [":no_entry: This request is approved."]
    # The requester pressing it on a forwarded message is refused too.
    press(
        post_signed, slack, user_id="U0ALICE", action_id="approval_approve", value=str(approval.pk), key="b3"
    )
    assert run_queued() == [":no_entry: You asked for this approval; someone else must give it."]


def test_a_decline_asks_for_a_reason_in_a_form_and_tells_the_requester(post_signed, slack, envs, people):
    alice, carol = people["member"], people["lead"]
    link(alice, "U0ALICE"), link(carol, "U0CAROL")
    approval = approval_request(user=alice, environment=envs["production"], tag="v2.15.0")
    press(post_signed, slack, user_id="U0CAROL", action_id="approval_decline", value=str(approval.pk))
    [opened] = [c.body for c in slack.calls if c.method == "views.open"]
    assert opened["trigger_id"] == "trig-b1"
    view = opened["view"]
    submission = {
        "type": "view_submission", "user": {"id": "U0CAROL", "team_id": "T0SHIRUBE"}, "team": {"id": "T0SHIRUBE"},
        "view": {**view, "state": {"values": {"reason": {"reason": {"type": "plain_text_input",
                                                                    "value": "Wait for the load test"}}}}},
    }  # fmt: skip
    response = post_signed("/slack/interactivity/", interaction_body(submission))
    assert response.status_code == 200 and response.content == b""  # closes the form
    [answer] = run_queued()
    assert "Declined `v2.15.0`" in answer
    approval.refresh_from_db()
    assert (approval.state, approval.declined_by, approval.decline_reason) == (
        "declined",
        carol,
        "Wait for the load test",
    )
    drain()
    [told] = slack.posted("U0ALICE")
    assert "carol declined v2.15.0" in told["text"] and "Wait for the load test" in told["text"]
    event = AuditEvent.objects.get(action="environment.decline")
    assert (event.channel, event.parameters["reason"]) == ("slack", "Wait for the load test")


def test_a_promotion_to_production_from_slack_after_a_slack_approval(
    post_signed, slack, envs, people, flux_phase
):
    from tests.environments.envfixtures import staging_healthy

    alice, carol = people["member"], people["lead"]
    link(alice, "U0ALICE"), link(carol, "U0CAROL")
    complete_phase(alice, flux_phase[0])
    staging_healthy(envs)
    refused = command(post_signed, slack, "promote checkout-api-production", "U0ALICE")
    assert "v2.15.0 needs an approval from a lead of the team or an SRE." in refused
    approval = approval_request(user=alice, environment=envs["production"], tag="v2.15.0", channel="slack")
    approved = command(post_signed, slack, "approve checkout-api-production v2.15.0", "U0CAROL", key="c2")
    assert approved.startswith(":white_check_mark: Approved")
    # Without a tag, a promotion takes what runs healthy where it promotes from.
    envs["production"].team.slack_channel = "C0PAYMENTS"
    envs["production"].team.save()
    answer = command(post_signed, slack, "promote checkout-api-production", "U0ALICE", key="c3")
    deployment = Deployment.objects.get()
    assert f"deployment #{deployment.pk}" in answer
    assert (deployment.kind, deployment.tag, deployment.approval, deployment.channel) == (
        "promote",
        "v2.15.0",
        approval,
        "slack",
    )
    assert Approval.objects.get().state == "used"
    # The team's channel hears at once that production is changing, and how.
    drain()
    [heard] = slack.posted("C0PAYMENTS")
    assert heard["text"] == "alice: promote checkout-api-production to v2.15.0\nRequested through slack."


def test_flux_actions_from_slack_go_through_the_flux_pages_request(post_signed, slack, cluster, teams, sim):
    from apps.clusters import sync
    from apps.clusters.flux_actions import flux_object_team
    from apps.clusters.models import FluxAction, FluxObject
    from tests.factories import MembershipFactory, UserFactory

    sync.cluster_sync(cluster=cluster)
    obj = next(o for o in FluxObject.objects.filter(kind="Kustomization").order_by("name")
               if flux_object_team(o) == teams["payments"])  # fmt: skip
    member = MembershipFactory(team=teams["payments"], user=UserFactory(username="alice")).user
    outsider = MembershipFactory(team=teams["search"], user=UserFactory(username="bob")).user
    link(member, "U0ALICE"), link(outsider, "U0BOB")
    ref = f"{obj.kind}/{obj.namespace}/{obj.name}"
    assert "Usage: `/shirube suspend" in command(post_signed, slack, f"suspend {ref}", "U0ALICE")
    answer = command(post_signed, slack, f"reconcile {ref.lower()}", "U0ALICE", key="c2")
    action = FluxAction.objects.get()
    assert (
        f"Reconcile now requested for {obj.kind} {obj.namespace}/{obj.name} on demo (#{action.pk})" in answer
    )
    assert (action.requested_by, action.channel) == (member, "slack")
    refused = command(post_signed, slack, f"suspend {ref} testing", "U0BOB", key="c3")
    assert refused == ":no_entry: You may not do this here."
    assert AuditEvent.objects.get(action="flux.suspend", outcome="refused").channel == "slack"
    assert AuditEvent.objects.get(action="flux.reconcile", outcome="requested").channel == "slack"


def test_a_production_rollback_from_slack_goes_back_one_tag_and_the_teams_channel_hears_it(
    post_signed, slack, envs, people, flux_phase
):
    from tests.environments.envfixtures import approval

    production, carol = envs["production"], people["lead"]
    production.team.slack_channel = "C0PAYMENTS"
    production.team.save()
    Deployment.objects.create(
        environment=production, kind="promote", tag="v2.14.3", previous_tag="v2.14.2", sha="a" * 40,
        status="healthy", idempotency_key="earlier", requested_by=carol,
    )  # fmt: skip
    link(carol, "U0CAROL")
    assert command(post_signed, slack, "rollback", "U0CAROL") == "Usage: `/shirube rollback <environment>`"
    # The same gates as the web: production needs the phase, then an approval for the tag it goes back to.
    refused = command(post_signed, slack, "rollback checkout-api-production", "U0CAROL", key="c2")
    assert "Complete “Shipping with Flux” first" in refused
    complete_phase(carol, flux_phase[0])
    approval(production, tag="v2.14.2", requested_by=carol, approved_by=people["sre"])
    answer = command(post_signed, slack, "rollback checkout-api-production", "U0CAROL", key="c3")
    deployment = Deployment.objects.get(kind="rollback")
    assert answer.startswith(
        f":rocket: Roll back `v2.14.2` to *checkout-api-production*: deployment #{deployment.pk}"
    )
    assert (deployment.requested_by, deployment.tag, deployment.channel) == (carol, "v2.14.2", "slack")
    event = AuditEvent.objects.get(action="environment.rollback", outcome="requested")
    assert (event.actor, event.channel) == (carol, "slack")
    drain()
    [heard] = slack.posted("C0PAYMENTS")
    assert heard["text"] == "carol: roll back checkout-api-production to v2.14.2\nRequested through slack."


def test_status_of_a_team_lists_its_environments_to_those_who_may_read_it(
    post_signed, slack, envs, people, settings
):
    link(people["member"], "U0ALICE"), link(people["other team"], "U0BOB")
    answer = command(post_signed, slack, "status payments", "U0ALICE")
    first, *lines = answer.splitlines()
    assert first.endswith("/teams/payments/environments/|Payments>*: 2 environments")
    assert sorted(line.split("|")[1].split(">")[0] for line in lines) == [
        "checkout-api-production",
        "checkout-api-staging",
    ]
    assert any("`v2.15.0` in git" in line for line in lines)
    # Where team pages are for members only, Slack shows another team no more than the web does.
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    hidden = command(post_signed, slack, "status payments", "U0BOB", key="c2")
    assert hidden == "No environment `payments`. Try `/shirube status <team>`."
    hidden = command(post_signed, slack, "status checkout-api-staging", "U0BOB", key="c3")
    assert hidden == "No environment `checkout-api-staging`. Try `/shirube status <team>`."


def test_a_response_url_is_answered_at_most_five_times(slack):
    asked = ChatCommand.objects.create(
        source="command", slack_team_id="T0SHIRUBE", slack_user_id="U0ALICE", text="status payments",
        response_url=slack.response_url("r1"),
    )  # fmt: skip
    for n in range(7):
        services.respond(asked, f"answer {n}")
    assert [r["text"] for r in slack.responses()] == [f"answer {n}" for n in range(5)]
    asked.refresh_from_db()
    assert asked.responses_sent == 5
    # A URL that is not Slack's is never called, whatever a forged body said.
    elsewhere = ChatCommand.objects.create(
        source="command", slack_team_id="T0SHIRUBE", slack_user_id="U0ALICE", text="help",
        response_url="http://127.0.0.1:1/steal",
    )  # fmt: skip
    services.respond(elsewhere, "secret")
    assert len(slack.responses()) == 5


def test_a_forged_stale_or_replayed_button_press_approves_nothing_more(post_signed, slack, envs, people):
    import time

    from tests.harness.notify_fixtures import slack_sign

    link(people["lead"], "U0CAROL")
    approval = approval_request(user=people["member"], environment=envs["production"], tag="v2.15.0")
    body = press_body(slack, user_id="U0CAROL", action_id="approval_approve", value=str(approval.pk))
    forged = slack_sign(body, secret="not-the-signing-secret")
    assert post_signed("/slack/interactivity/", body, **forged).status_code == 401
    stale = slack_sign(body, timestamp=int(time.time()) - 6 * 60)
    assert post_signed("/slack/interactivity/", body, **stale).status_code == 401
    assert not ChatCommand.objects.exists()
    headers = slack_sign(body)
    assert post_signed("/slack/interactivity/", body, **headers).status_code == 200
    assert post_signed("/slack/interactivity/", body, **headers).status_code == 409
    assert post_signed("/slack/interactivity/", body).status_code == 409  # re-signed, as a retry would be
    assert ChatCommand.objects.count() == 1
    run_queued()
    approval.refresh_from_db()
    assert (approval.state, approval.approved_by) == ("approved", people["lead"])
    assert AuditEvent.objects.filter(action="environment.approve").count() == 1

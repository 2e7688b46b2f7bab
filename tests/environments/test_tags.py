"""A typo'd tag must not deploy, Roll back goes to the last healthy tag, and break glass (issue 13).

`feature-x-doesnotexist-1` was committed, pinned staging and showed "Healthy" in the demo: the
registry check ran only when the scan listed every tag, and Flux lists ten of 42. Here the demo's
kubesim serves a realistic scan (42 tags, the ten alphabetically last listed) and a registry that
refuses to pull a tag it does not hold; Shirube syncs it through the official client.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.services import user_make_sre
from apps.audit.models import AuditEvent
from apps.clusters import sync
from apps.environments import gates, runner, services
from apps.environments.models import Deployment, Environment, HealthyTag
from apps.environments.selectors import environment_live
from apps.environments.signals import rollback_break_glass
from tests.environments.envfixtures import approval, complete_phase, staging_healthy
from tests.environments.runnerfixtures import BRANCH_TAG, drive, git
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TYPO = "feature-x-doesnotexist-1"


def deploy(user, environment, tag, *, key=None, confirm=False):
    return services.deployment_request(user=user, environment=environment, kind="deploy", tag=tag,
                                       idempotency_key=key or f"deploy-{tag}", confirm_unverified=confirm)  # fmt: skip


# -- the tag check ---------------------------------------------------------------------------


def test_a_typo_is_not_deployed_on_a_bare_click(staging, alice, client_for):
    """The scan found 42 tags and lists ten: the typo is neither listed nor run anywhere."""
    url = reverse("environments:deployments", args=["payments", staging.slug])
    response = client_for(alice).post(url, {"kind": "deploy", "tag": TYPO, "idempotency_key": "k1"})
    body = response.content.decode()
    assert response.status_code == 400
    assert (
        f"Shirube cannot confirm that {TYPO} exists" in body and "found 42 tags but reports only 10" in body
    )
    assert 'data-testid="confirm-unverified"' in body and f'value="{TYPO}"' in body  # kept, to check
    assert not Deployment.objects.exists()
    event = AuditEvent.objects.get(action="environment.deploy")
    assert event.outcome == "failed" and "cannot confirm" in event.message


@pytest.mark.parametrize(
    "tag,how",
    [
        ("v2.15.0-rc.2", "the registry scan of payments/checkout-api lists it"),
        ("main-3f2a1c9-1764150000", "the image policy payments:checkout-api picked it"),
    ],
)
def test_a_tag_something_vouches_for_deploys_without_asking(staging, alice, tag, how):
    from apps.environments.selectors import tag_evidence

    assert tag_evidence(staging, tag).confirmed == how
    assert deploy(alice, staging, tag).tag_unconfirmed is False


def test_a_tag_ready_pods_of_the_image_run_is_confirmed(staging, alice):
    from apps.clusters.models import Pod
    from tests.environments.envfixtures import IMAGE

    pod = Pod.objects.filter(namespace="payments", name__startswith="checkout-api").first()
    Pod.objects.filter(pk=pod.pk).update(images=[f"{IMAGE}:hotfix-7"])  # pulled and running
    Environment.objects.create(
        team=staging.team, app="checkout-api", stage="production", cluster=staging.cluster, namespace="payments",
        kustomization="flux-system/payments-apps", repo_url=staging.repo_url, image=staging.image,
        kustomization_path="apps/payments/production/kustomization.yaml",
    )  # fmt: skip
    assert deploy(alice, staging, "hotfix-7").tag_unconfirmed is False


def test_a_tag_that_ran_healthy_in_an_environment_of_the_image_is_confirmed(staging, alice):
    HealthyTag.objects.create(environment=staging, tag="feature-y-1")
    assert deploy(alice, staging, "feature-y-1").tag_unconfirmed is False


def test_on_staging_the_requester_may_vouch_for_it_and_that_is_recorded(staging, alice):
    deployment = deploy(alice, staging, BRANCH_TAG, confirm=True)
    assert deployment.tag_unconfirmed
    event = AuditEvent.objects.get(action="environment.deploy", outcome="requested")
    assert "not confirmed by the registry scan; deployed on the requester's word" in event.message


def test_where_tag_changes_are_gated_an_unconfirmed_tag_is_refused_whatever_the_requester_says(
    staging, alice
):
    Environment.objects.filter(pk=staging.pk).update(requires_approval=True)  # a gated environment
    staging.refresh_from_db()
    approval(staging, tag=TYPO, requested_by=alice, approved_by=user_make_sre(user=UserFactory()))
    with pytest.raises(services.RequestRefused, match="takes only tags known to exist"):
        deploy(alice, staging, TYPO, confirm=True)
    assert not Deployment.objects.exists()


# -- end to end: what a typo does, and what Roll back offers afterwards ----------------------


def _until_done(deployment, flux, cluster, settings):
    """Drive the runner; a few steps after Flux applied, let the rollout time out (not ten minutes)."""
    since_applied = 0
    for _ in range(30):
        delay = runner.deployment_advance(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        if delay is None:
            return deployment
        flux()
        since_applied += bool(deployment.applied_at)
        if since_applied == 4:
            sync.cluster_sync(cluster=cluster)  # what the page shows meanwhile
            Deployment.objects.filter(pk=deployment.pk).update(
                applied_at=timezone.now() - timedelta(seconds=settings.SHIRUBE_DEPLOY_ROLLOUT_TIMEOUT + 1)
            )
    raise AssertionError(deployment.message)


def test_a_confirmed_typo_fails_visibly_and_is_never_offered_as_a_roll_back_target(
    staging, alice, flux, cluster, settings
):
    assert environment_live(staging).state == "healthy"  # v2.15.0-rc.1, as the demo starts
    typo = _until_done(deploy(alice, staging, TYPO, confirm=True), flux, cluster, settings)
    assert typo.status == "failed" and typo.failed_step == "rollout" and "ImagePullBackOff" in typo.message
    staging.refresh_from_db()
    assert staging.git_tag == TYPO and environment_live(staging).state == "failing"
    # What ran healthy before the typo was noted when the typo was committed: that is the target.
    assert gates.rollback_tag(staging) == "v2.15.0-rc.1"
    # A good deploy after the typo: "the tag before the last deployment" would now be the typo.
    good = drive(deploy(alice, staging, BRANCH_TAG, confirm=True), flux)
    assert good[-1] == "healthy"
    staging.refresh_from_db()
    assert gates.rollback_tag(staging) == "v2.15.0-rc.1"
    back = services.deployment_request(
        user=alice, environment=staging, kind="rollback", idempotency_key="back"
    )
    assert back.tag == "v2.15.0-rc.1" and drive(back, flux)[-1] == "healthy"
    staging.refresh_from_db()
    assert gates.rollback_tag(staging) == BRANCH_TAG  # ran healthy until the rollback
    assert TYPO not in set(HealthyTag.objects.values_list("tag", flat=True))


def test_a_sync_notes_the_tag_each_environment_runs_healthy(staging, cluster):
    assert not HealthyTag.objects.exists()
    assert services.healthy_tags_observe(cluster_id=cluster.pk) == 1
    assert list(HealthyTag.objects.values_list("environment_id", "tag")) == [(staging.pk, "v2.15.0-rc.1")]


# -- break glass -----------------------------------------------------------------------------


@pytest.fixture
def incident(envs, people):
    """Production runs v2.14.3 (failing now); v2.14.2 ran healthy before. alice is named for break glass,
    has done no lesson and holds no approval."""
    production = envs["production"]
    HealthyTag.objects.create(environment=production, tag="v2.14.2", last_seen_at=timezone.now())
    production.break_glass_users.add(people["member"])
    return production


def _break(user, production, reason="INC-7: checkout 500s since v2.14.3", key="bg-1"):
    return services.deployment_break_glass(
        user=user, environment=production, reason=reason, idempotency_key=key
    )


def test_a_named_person_rolls_production_back_without_approval_loudly(
    incident, people, django_capture_on_commit_callbacks
):
    heard = []

    def receiver(sender, *, deployment, reason, **kwargs):
        heard.append((deployment.pk, deployment.tag, reason))

    rollback_break_glass.connect(receiver)
    try:
        assert not gates.environment_verdict(user=people["member"], environment=incident, action="rollback",
                                             tag="v2.14.2").allowed  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            deployment = _break(people["member"], incident)
    finally:
        rollback_break_glass.disconnect(receiver)
    assert (deployment.kind, deployment.tag, deployment.break_glass) == ("rollback", "v2.14.2", True)
    assert deployment.approval is None and deployment.review_pending
    assert heard == [(deployment.pk, "v2.14.2", "INC-7: checkout 500s since v2.14.3")]
    loud = AuditEvent.objects.get(action="environment.break_glass")
    assert loud.outcome == "requested" and loud.parameters["reason"] == "INC-7: checkout 500s since v2.14.3"
    assert loud.message.startswith("BREAK GLASS: alice rolls checkout-api-production back to v2.14.2")


@pytest.mark.parametrize(
    "who,reason,match",
    [
        ("lead", "INC-7", "Only the people checkout-api-production names"),
        ("sre", "INC-7", "Only the people checkout-api-production names"),  # SREs too, unless named
        ("member", "", "Say why you break the glass"),
        ("member", "   ", "Say why you break the glass"),
    ],
)
def test_break_glass_needs_a_name_on_the_list_and_a_reason(incident, people, who, reason, match):
    with pytest.raises(services.RequestRefused, match=match):
        _break(people[who], incident, reason=reason)
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.get(action="environment.break_glass").outcome in ("refused", "failed")


def test_break_glass_goes_only_to_a_tag_that_ran_healthy(incident, people):
    HealthyTag.objects.all().delete()
    with pytest.raises(services.RequestRefused, match="nothing to roll back to"):
        _break(people["member"], incident)


def test_a_person_taken_off_the_list_before_it_runs_is_stopped_at_the_gates(incident, people):
    deployment = _break(people["member"], incident)
    incident.break_glass_users.remove(people["member"])
    assert runner.deployment_advance(deployment_id=deployment.pk) is None
    deployment.refresh_from_db()
    assert deployment.status == "failed" and deployment.failed_step == "gates"


def test_the_page_offers_break_glass_to_named_people_only_when_roll_back_is_closed(
    incident, people, flux_phase, client_for
):
    url = reverse("environments:detail", args=["payments", incident.slug])
    html = client_for(people["member"]).get(url).content.decode()
    assert "Break glass: roll back to v2.14.2</button>" in html
    for role in ("lead", "other team", "sre"):
        assert "Break glass" not in client_for(people[role]).get(url).content.decode(), role
    response = client_for(people["member"]).post(
        reverse("environments:break_glass", args=["payments", incident.slug]),
        {"reason": "INC-7", "idempotency_key": "page-1"},
    )
    assert response.status_code == 302 and Deployment.objects.get().break_glass
    again = client_for(people["member"]).post(
        reverse("environments:break_glass", args=["payments", incident.slug]),
        {"reason": "INC-7", "idempotency_key": "page-1"},
    )
    assert again.status_code == 302 and Deployment.objects.count() == 1  # a double submission: one rollback
    deploy_key = Deployment.objects.create(environment=incident, kind="deploy", tag="v2.14.4",
                                           requested_by=people["member"], idempotency_key="page-2")  # fmt: skip
    stale = client_for(people["member"]).post(
        reverse("environments:break_glass", args=["payments", incident.slug]),
        {"reason": "INC-7", "idempotency_key": deploy_key.idempotency_key},
    )
    assert stale.status_code == 400 and "reload the page" in stale.content.decode()


def test_a_lead_or_an_sre_reviews_it_and_the_pending_ones_are_listed(incident, people, client_for):
    deployment = _break(people["member"], incident)
    detail = reverse("environments:detail", args=["payments", incident.slug])
    listing = reverse("environments:list", args=["payments"])
    lead = client_for(people["lead"])
    assert 'data-testid="review-pending"' in lead.get(detail).content.decode()
    assert "1 break-glass rollback to review" in lead.get(listing).content.decode()
    review = reverse("environments:break_glass_review", args=["payments", incident.slug, deployment.pk])
    for who in ("member", "other team"):  # who broke it, and someone outside the team
        assert client_for(people[who]).post(review, {"note": "fine"}).status_code in (403, 404)
    lead = client_for(people["lead"])  # one test client: signed in as the lead again
    assert lead.post(review, {"note": ""}).status_code == 400
    response = lead.post(review, {"note": "postmortem PM-12; v2.14.3 fixed in v2.14.4"})
    assert response.status_code == 302, response.content.decode().split('role="alert">')[1][:300]
    deployment.refresh_from_db()
    assert deployment.reviewed_by == people["lead"] and not deployment.review_pending
    assert deployment.review_note == "postmortem PM-12; v2.14.3 fixed in v2.14.4"
    assert "break-glass rollback to review" not in lead.get(listing).content.decode()
    assert (
        AuditEvent.objects.get(action="environment.break_glass_review", outcome="succeeded").actor
        == people["lead"]
    )
    with pytest.raises(services.RequestRefused, match="reviewed already"):
        services.deployment_review(user=people["sre"], deployment=deployment, note="again")


def test_break_glass_takes_no_new_tag_in(incident, people, envs, flux_phase):
    """Promotion keeps its approval and its healthy-in-staging rule: break glass only goes back."""
    staging_healthy(envs, "v2.16.0")
    complete_phase(people["member"], flux_phase[0])
    with pytest.raises(services.RequestRefused, match="needs an approval"):
        services.deployment_request(user=people["member"], environment=incident, kind="promote", tag="v2.16.0",
                                    idempotency_key="p")  # fmt: skip
    assert _break(people["member"], incident).tag == "v2.14.2"


def test_break_glass_does_not_wait_out_the_rollout_it_undoes(staging, alice, flux, repo):
    """The typo's pods never become ready: its watch would hold staging for the rollout timeout."""
    staging.break_glass_users.add(alice)
    assert environment_live(staging).state == "healthy"  # v2.15.0-rc.1, as the demo starts
    typo = deploy(alice, staging, TYPO, confirm=True)
    for _ in range(30):
        runner.deployment_advance(deployment_id=typo.pk)
        typo.refresh_from_db()
        if typo.applied_at:
            break
        flux()
    assert typo.status == "reconciling" and typo.applied_at  # Flux applied it; pods cannot pull it
    staging.refresh_from_db()  # git's tag is the typo now, as the page reads it
    back = services.deployment_break_glass(
        user=alice, environment=staging, reason="INC-8: checkout\nApproved-by: lead", idempotency_key="bg"
    )
    assert back.tag == "v2.15.0-rc.1" and drive(back, flux)[-1] == "healthy"
    typo.refresh_from_db()
    assert typo.status == "failed" and typo.message.startswith(
        f"Superseded by rollback #{back.pk} to v2.15.0-rc.1"
    )
    message = git(repo, "log", "-1", "--format=%B", "main")
    assert "Break-glass, without approval: INC-8: checkout Approved-by: lead" in message
    assert "\nApproved-by" not in message  # a reason cannot forge a trailer

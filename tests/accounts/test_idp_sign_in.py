"""Accounts from the identity provider: (issuer, sub), group mappings and what they leave alone.

The flow itself runs against Keycloak in tests/sso; these cover the mapping rules fast.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.accounts.models import GroupMapping, Membership, Team
from apps.accounts.permissions import is_sre
from apps.accounts.services import idp_user_sign_in, user_make_sre
from apps.audit.models import AuditEvent
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.com"


def sign_in(subject="sub-1", groups=(), username="ana", email="ana@example.com", issuer=ISSUER):
    return idp_user_sign_in(
        issuer=issuer, subject=subject, username=username, email=email, first_name="Ana", last_name="D",
        groups=list(groups) if groups is not None else None,
    )  # fmt: skip


def roles(user):
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def test_the_same_subject_at_another_issuer_is_another_account():
    assert sign_in(issuer=ISSUER).pk != sign_in(issuer="https://other.example.com").pk
    assert get_user_model().objects.filter(username__startswith="ana").count() == 2


def test_a_renamed_email_or_name_updates_the_same_account():
    first = sign_in()
    again = sign_in(username="ana-renamed", email="ana@new.example.com")
    assert again.pk == first.pk and again.email == "ana@new.example.com"
    assert again.username == "ana"  # the user name stays as it was created


def test_a_claimed_name_that_is_not_a_valid_user_name_is_made_one():
    assert sign_in(username="Ana Dev/Ops <x>").username == "Ana-Dev-Ops--x"


def test_the_bootstrap_map_applies_while_the_admin_has_no_mapping(settings):
    settings.SHIRUBE_OIDC_GROUP_MAP = [("devs", "member", "payments"), ("ops", "sre", "")]
    user = sign_in(groups=["devs", "ops"])
    assert roles(user) == {"payments": "member"} and is_sre(user)
    assert Team.objects.get(slug="payments").name == "payments"  # created for the bootstrap
    # Once SREs map groups in the admin, the bootstrap map is no longer read.
    GroupMapping.objects.create(idp_group="other", role="member", team=TeamFactory(slug="search"))
    user = sign_in(groups=["devs", "ops"])
    assert roles(user) == {} and not is_sre(get_user_model().objects.get(pk=user.pk))


def test_a_hand_made_sre_stays_an_sre_whatever_the_groups_say():
    user = sign_in()
    user_make_sre(user=user)
    GroupMapping.objects.create(idp_group="ops", role="sre")
    sign_in(groups=["ops"])
    sign_in(groups=[])
    assert is_sre(get_user_model().objects.get(pk=user.pk))


def test_a_group_taking_over_a_hand_made_membership_manages_it_from_then_on():
    team = TeamFactory(slug="payments")
    GroupMapping.objects.create(idp_group="devs", role="member", team=team)
    user = sign_in()
    MembershipFactory(user=user, team=team, role="lead")
    sign_in(groups=["devs"])
    membership = Membership.objects.get(user=user, team=team)
    assert membership.role == "member" and membership.managed_by_idp
    sign_in(groups=[])
    assert not Membership.objects.filter(user=user).exists()


def test_no_groups_claim_configured_leaves_memberships_to_the_admin(settings):
    team = TeamFactory(slug="payments")
    user = sign_in()
    MembershipFactory(user=user, team=team)
    settings.SHIRUBE_OIDC_GROUPS_CLAIM = ""
    sign_in(groups=None)
    assert roles(user) == {"payments": "member"}


def test_a_sign_in_that_changes_nothing_records_nothing():
    team = TeamFactory(slug="payments")
    GroupMapping.objects.create(idp_group="devs", role="member", team=team)
    sign_in(groups=["devs"])
    count = AuditEvent.objects.count()
    sign_in(groups=["devs"])
    assert AuditEvent.objects.count() == count


def test_a_local_user_is_not_matched_by_email():
    local = UserFactory(username="someone", email="ana@example.com")
    assert sign_in().pk != local.pk


def test_group_mappings_in_the_admin_are_audited(client, sre):
    team = TeamFactory(slug="payments")
    client.force_login(sre)
    response = client.post(
        "/admin/accounts/groupmapping/add/", {"idp_group": "/eng/payments", "role": "lead", "team": team.pk}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="config.groupmapping")
    assert event.outcome == "created" and event.target == "/eng/payments" and event.team == team
    # The SRE role has no team, and a team role needs one: said in the form.
    response = client.post(
        "/admin/accounts/groupmapping/add/", {"idp_group": "ops", "role": "sre", "team": team.pk}
    )
    assert response.status_code == 200 and "leave the team empty" in response.content.decode()


def test_deactivating_a_provider_account_ends_its_session_at_the_next_request(client):
    user = sign_in()
    client.force_login(user, backend="apps.accounts.oidc.OIDCBackend")
    assert client.get("/learn/").status_code == 200
    user.is_active = False
    user.save()
    assert client.get("/learn/").status_code == 302

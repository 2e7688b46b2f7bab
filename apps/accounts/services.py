"""Writes for teams and people."""

from __future__ import annotations

import re

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import (
    LANGUAGES,
    SRE_GROUP,
    FirstSignIn,
    GroupMapping,
    IdpIdentity,
    LanguagePreference,
    Membership,
    Team,
)
from apps.accounts.permissions import is_sre
from apps.core import inputs
from apps.core.config_audit import config_change_record, config_snapshot, config_snapshot_stored

# SREs administer what the portal holds; they are not superusers. Their group's permissions are
# derived from the installed apps (every app of the portal's own, `apps.*`), so a new app is covered
# the next time `migrate` runs, without anyone remembering to list it. Added to those, as
# "app" (every model) or "app.model" (these actions): lesson history, and people, through a user
# admin that for SREs cannot grant superuser or raw permissions. People are deactivated, never
# deleted: their progress and their audit trail stay.
SRE_ALSO: dict[str, tuple[str, ...] | None] = {"reversion": None, "auth.user": ("add", "change", "view")}
# Kept from SREs whatever the apps: anything that shows one learner's doing (docs/security.md,
# "Who sees what"), and raw permissions. Model -> the actions SREs keep on it.
SRE_PRIVATE: dict[str, tuple[str, ...]] = {
    "lessons.quizattempt": (),  # individual quiz attempts (it has no admin, either)
    "lessons.checklisttick": (),  # what one learner ticked
    # Comments are read (authors hidden unless signed) and may be removed (with their lesson too),
    # never edited or written in someone's name.
    "lessons.stuckflag": ("view", "delete"),
    "auth.group": (),  # a group's permissions are raw permissions
    "auth.permission": (),
}


def sre_permissions() -> QuerySet[Permission]:
    """Every permission on the portal's own apps and SRE_ALSO, but the private ones (SRE_PRIVATE)."""
    labels = {config.label for config in django_apps.get_app_configs() if config.name.startswith("apps.")}
    wanted = Q(content_type__app_label__in=labels)
    for name, actions in SRE_ALSO.items():
        label, _, model = name.partition(".")
        scope = Q(content_type__app_label=label)
        if model:
            scope &= Q(content_type__model=model, codename__in=[f"{a}_{model}" for a in actions or ()])
        wanted |= scope
    permissions = Permission.objects.filter(wanted)
    for model, kept in SRE_PRIVATE.items():
        label, name = model.split(".")
        private = Q(content_type__app_label=label, content_type__model=name)
        permissions = permissions.exclude(private & ~Q(codename__in=[f"{a}_{name}" for a in kept]))
    return permissions


# Each change below widens or narrows who may do what, so each is an audit event
# (apps.core.config_audit); `by` is who made it, None for the system (a command, the demo).


@transaction.atomic
def sre_group_ensure(*, by: AbstractBaseUser | None = None) -> Group:
    """The SRE group, with the permissions sre_permissions() derives."""
    group, created = Group.objects.get_or_create(name=SRE_GROUP)
    before = {} if created else config_snapshot(group)
    group.permissions.set(sre_permissions())
    config_change_record(by=by, instance=group, verb="created" if created else "changed", before=before)
    return group


def sre_group_refresh() -> Group | None:
    """After `migrate` (new apps, new models): derive the SRE group's permissions again, if it exists.

    A database without SREs yet gets the group when the first one is made (user_make_sre).
    """
    if not Group.objects.filter(name=SRE_GROUP).exists():
        return None
    return sre_group_ensure()


@transaction.atomic
def team_ensure(*, slug: str, name: str, by: AbstractBaseUser | None = None) -> Team:
    before = config_snapshot(Team.objects.filter(slug=slug).first())
    team, created = Team.objects.update_or_create(slug=slug, defaults={"name": name})
    config_change_record(by=by, instance=team, verb="created" if created else "changed", before=before)
    return team


@transaction.atomic
def membership_set(
    *, user: AbstractBaseUser, team: Team, role: str, by: AbstractBaseUser | None = None,
    managed_by_idp: bool = False,
) -> Membership:  # fmt: skip
    before = config_snapshot(Membership.objects.filter(user=user, team=team).first())
    membership, created = Membership.objects.update_or_create(
        user=user, team=team, defaults={"role": role, "managed_by_idp": managed_by_idp}
    )
    user.__dict__.pop("_shirube_team_roles", None)  # permissions.team_role remembers roles per request
    config_change_record(by=by, instance=membership, verb="created" if created else "changed", before=before)
    return membership


@transaction.atomic
def user_make_sre(*, user: AbstractBaseUser, by: AbstractBaseUser | None = None) -> AbstractBaseUser:
    before = config_snapshot_stored(user)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(sre_group_ensure(by=by))
    user.__dict__.pop("_shirube_is_sre", None)  # permissions.is_sre remembers the answer on the user
    config_change_record(by=by, instance=user, verb="changed", before=before)
    return user


@transaction.atomic
def membership_remove(*, membership: Membership, by: AbstractBaseUser | None = None) -> None:
    before = config_snapshot(membership)
    config_change_record(by=by, instance=membership, verb="deleted", before=before)
    membership.delete()
    membership.user.__dict__.pop("_shirube_team_roles", None)


@transaction.atomic
def user_revoke_sre(*, user: AbstractBaseUser, by: AbstractBaseUser | None = None) -> AbstractBaseUser:
    """No longer an SRE: out of the group, and no admin access (staff came with the role)."""
    before = config_snapshot_stored(user)
    user.groups.remove(*Group.objects.filter(name=SRE_GROUP))
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_shirube_is_sre", None)
    config_change_record(by=by, instance=user, verb="changed", before=before)
    return user


def user_ensure(*, username: str, password: str, **fields) -> AbstractBaseUser:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    return user


# -- Accounts from the identity provider (apps.accounts.oidc) ----------------------------

_USERNAME_FORBIDDEN = re.compile(r"[^\w.@+-]")


def _username_free(wanted: str) -> str:
    """`wanted` made a valid Django user name, with -2, -3… when another account holds it."""
    User = get_user_model()
    base = _USERNAME_FORBIDDEN.sub("-", wanted)[:140].strip("-") or "user"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _group_grants(groups: list[str]) -> tuple[dict[int, str], bool, list[Team]]:
    """What the groups grant: {team id: role} (lead beats member), SRE or not, and the teams."""
    rows = [(m.idp_group, m.role, m.team) for m in GroupMapping.objects.select_related("team")]
    if not rows:
        # Nothing mapped in the admin yet: the bootstrap mapping from SHIRUBE_OIDC_GROUP_MAP.
        for group, role, slug in settings.SHIRUBE_OIDC_GROUP_MAP:
            team = None
            if slug:
                team = Team.objects.filter(slug=slug).first() or team_ensure(slug=slug, name=slug)
            rows.append((group, role, team))
    member_of = set(groups)
    teams: dict[int, str] = {}
    by_id: dict[int, Team] = {}
    sre = False
    for group, role, team in rows:
        if group not in member_of:
            continue
        if role == GroupMapping.Role.SRE:
            sre = True
        elif teams.get(team.pk) != Membership.Role.LEAD:
            teams[team.pk] = role
            by_id[team.pk] = team
    return teams, sre, list(by_id.values())


@transaction.atomic
def idp_memberships_apply(*, user: AbstractBaseUser, identity: IdpIdentity, groups: list[str]) -> None:
    """Set the user's teams, roles and SRE role from their groups: added and removed, each audited.

    Only what the provider manages changes: a membership made by hand stays (unless a group
    now grants that team, which takes it over), and so does an SRE role given by hand.
    """
    wanted, sre, teams = _group_grants(groups)
    team_by_id = {team.pk: team for team in teams}
    for membership in Membership.objects.filter(user=user).select_related("team"):
        role = wanted.pop(membership.team_id, None)
        if role is None:
            if membership.managed_by_idp:
                membership_remove(membership=membership)
        elif membership.role != role or not membership.managed_by_idp:
            membership_set(user=user, team=membership.team, role=role, managed_by_idp=True)
    for team_id, role in wanted.items():
        membership_set(user=user, team=team_by_id[team_id], role=role, managed_by_idp=True)
    if sre and not is_sre(user):
        user_make_sre(user=user)
        identity.sre_from_idp = True
    elif not sre and identity.sre_from_idp:
        user_revoke_sre(user=user)
        identity.sre_from_idp = False


@transaction.atomic
def idp_user_sign_in(
    *, issuer: str, subject: str, username: str, email: str, first_name: str, last_name: str,
    groups: list[str] | None,
) -> AbstractBaseUser:  # fmt: skip
    """The account for (issuer, subject), created on first sign-in, with its details and groups applied.

    Never matched on e-mail or user name: two people of the provider are two accounts, and a
    local account (the break-glass administrator) is never taken over by a provider account
    with the same name. `groups` None means the groups are not the provider's to manage.
    """
    User = get_user_model()
    identity = IdpIdentity.objects.select_for_update().filter(issuer=issuer, subject=subject).first()
    if identity is None:
        user = User(username=_username_free(username or email.partition("@")[0] or subject))
        user.set_unusable_password()  # a provider account never signs in with a password
        user.save()
        identity = IdpIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    user = identity.user
    user.email, user.first_name, user.last_name = email[:254], first_name[:150], last_name[:150]
    user.save(update_fields=["email", "first_name", "last_name"])
    if groups is not None:
        idp_memberships_apply(user=user, identity=identity, groups=groups)
        identity.groups = groups[:500]
    identity.last_sign_in_at = timezone.now()
    identity.save()
    return user


def first_sign_in_record(*, user: AbstractBaseUser, at=None) -> FirstSignIn:
    """Record the first sign-in once; later sign-ins (and a second, racing request) change nothing."""
    first, _ = FirstSignIn.objects.get_or_create(user=user, defaults={"at": at or timezone.now()})
    return first


def first_sign_in_on_login(sender, *, user: AbstractBaseUser, **kwargs) -> None:
    """user_logged_in's receiver (AccountsConfig.ready), for password and identity-provider sign-in alike."""
    first_sign_in_record(user=user)


def language_preference_set(*, user: AbstractBaseUser, language: str) -> str:
    """Remember the language the user reads in; InvalidInput for one Shirube does not have.

    Not an audit event: it changes what one person reads, not who may do what.
    """
    language = inputs.choice(language, field="language", label="language", choices=LANGUAGES)
    LanguagePreference.objects.update_or_create(user=user, defaults={"language": language})
    return language

"""Writes for teams and people."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction

from apps.accounts.models import SRE_GROUP, Membership, Team
from apps.core.config_audit import config_change_record, config_snapshot, config_snapshot_stored

# SREs administer what the portal holds; they are not superusers.
SRE_APPS = ("accounts", "lessons", "clusters", "audit", "reversion")


# Each change below widens or narrows who may do what, so each is an audit event
# (apps.core.config_audit); `by` is who made it, None for the system (a command, the demo).


@transaction.atomic
def sre_group_ensure(*, by: AbstractBaseUser | None = None) -> Group:
    """The SRE group, with every permission on the portal's own apps."""
    group, created = Group.objects.get_or_create(name=SRE_GROUP)
    before = {} if created else config_snapshot(group)
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=SRE_APPS))
    config_change_record(by=by, instance=group, verb="created" if created else "changed", before=before)
    return group


@transaction.atomic
def team_ensure(*, slug: str, name: str, by: AbstractBaseUser | None = None) -> Team:
    before = config_snapshot(Team.objects.filter(slug=slug).first())
    team, created = Team.objects.update_or_create(slug=slug, defaults={"name": name})
    config_change_record(by=by, instance=team, verb="created" if created else "changed", before=before)
    return team


@transaction.atomic
def membership_set(
    *, user: AbstractBaseUser, team: Team, role: str, by: AbstractBaseUser | None = None
) -> Membership:
    before = config_snapshot(Membership.objects.filter(user=user, team=team).first())
    membership, created = Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})
    user.__dict__.pop("_shirube_team_roles", None)  # permissions.team_role remembers roles per request
    config_change_record(by=by, instance=membership, verb="created" if created else "changed", before=before)
    return membership


@transaction.atomic
def user_make_sre(*, user: AbstractBaseUser, by: AbstractBaseUser | None = None) -> AbstractBaseUser:
    before = config_snapshot_stored(user)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(sre_group_ensure(by=by))
    config_change_record(by=by, instance=user, verb="changed", before=before)
    return user


def user_ensure(*, username: str, password: str, **fields) -> AbstractBaseUser:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    return user

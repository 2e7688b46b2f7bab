"""Writes for teams and people."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction

from apps.accounts.models import SRE_GROUP, Membership, Team

# SREs administer what the portal holds; they are not superusers.
SRE_APPS = ("accounts", "lessons", "clusters", "audit", "reversion")


def sre_group_ensure() -> Group:
    """The SRE group, with every permission on the portal's own apps."""
    group, _ = Group.objects.get_or_create(name=SRE_GROUP)
    group.permissions.set(Permission.objects.filter(content_type__app_label__in=SRE_APPS))
    return group


def team_ensure(*, slug: str, name: str) -> Team:
    team, _ = Team.objects.update_or_create(slug=slug, defaults={"name": name})
    return team


def membership_set(*, user: AbstractBaseUser, team: Team, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(user=user, team=team, defaults={"role": role})
    user.__dict__.pop("_shirube_team_roles", None)  # permissions.team_role remembers roles per request
    return membership


@transaction.atomic
def user_make_sre(*, user: AbstractBaseUser) -> AbstractBaseUser:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.groups.add(sre_group_ensure())
    return user


def user_ensure(*, username: str, password: str, **fields) -> AbstractBaseUser:
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    return user

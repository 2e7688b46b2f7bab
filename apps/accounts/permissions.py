"""Who may do what. Every check lives here, with tests in tests/accounts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from apps.accounts.models import SRE_GROUP, Membership, Team


def is_sre(user: AbstractBaseUser) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_shirube_is_sre", None)
    if cached is None:
        cached = user.groups.filter(name=SRE_GROUP).exists()
        user._shirube_is_sre = cached
    return cached


def led_team_ids(user: AbstractBaseUser) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(
        Membership.objects.filter(user=user, role=Membership.Role.LEAD).values_list("team_id", flat=True)
    )


def team_role(user: AbstractBaseUser, team: Team) -> str | None:
    """The user's role in the team, or None; remembered on the user object for the request."""
    if not user.is_authenticated:
        return None
    roles = user.__dict__.setdefault("_shirube_team_roles", {})
    if team.pk not in roles:
        memberships = Membership.objects.filter(user=user, team=team)
        roles[team.pk] = memberships.values_list("role", flat=True).first()
    return roles[team.pk]


def reads_only_own_teams(user: AbstractBaseUser) -> bool:
    """Whether this user reads only their own teams' pages (SHIRUBE_TEAM_PAGES_MEMBERS_ONLY; SREs all)."""
    return settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY and not is_sre(user)


def can_read_team(user: AbstractBaseUser, team: Team) -> bool:
    """Every signed-in user reads every team's pages, unless they are for members only."""
    return not reads_only_own_teams(user) or team_role(user, team) is not None


def can_act_on_team(user: AbstractBaseUser, team: Team | None, *, production: bool) -> bool:
    """Members act on their team's objects; in production only leads (unless configured) and SREs."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_sre(user):
        return True
    if team is None:
        return False
    role = team_role(user, team)
    if role is None:
        return False
    if production and not settings.SHIRUBE_PRODUCTION_ACTIONS_FOR_MEMBERS:
        return role == Membership.Role.LEAD
    return True


def can_see_team_progress(user: AbstractBaseUser) -> bool:
    """Leads (for their teams) and SREs (for all) see the team progress page."""
    return is_sre(user) or bool(led_team_ids(user))


def team_progress_scope(user: AbstractBaseUser) -> list[Team]:
    """The teams whose progress this user may see."""
    if is_sre(user):
        return list(Team.objects.all())
    return list(Team.objects.filter(id__in=led_team_ids(user)))


def can_read_stuck_comments(user: AbstractBaseUser) -> bool:
    """Individual stuck comments are for SREs only; leads see counts."""
    return is_sre(user)


def can_see_notification_log(user: AbstractBaseUser) -> bool:
    """What Shirube sent to whom (and what failed) is for SREs: it names people and channels."""
    return is_sre(user)


def can_edit_lessons(user: AbstractBaseUser) -> bool:
    return is_sre(user) and user.is_staff


def can_preview_unpublished(user: AbstractBaseUser) -> bool:
    return is_sre(user)


def password_sign_in_allowed(username: str) -> bool:
    """Passwords are for everyone while local sign-in is on, else only for the break-glass users."""
    return settings.SHIRUBE_LOCAL_LOGIN or username in settings.SHIRUBE_BREAK_GLASS_USERS


def password_form_shown() -> bool:
    """The password form is on the sign-in page while local sign-in is on."""
    return settings.SHIRUBE_LOCAL_LOGIN


def oidc_enabled() -> bool:
    return bool(settings.SHIRUBE_OIDC_ISSUER)

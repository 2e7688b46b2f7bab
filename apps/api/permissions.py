"""Who may make and revoke which API tokens, and what a token's scopes let it do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from apps.accounts.models import Membership, Team
from apps.accounts.permissions import is_sre, team_role
from apps.api.models import ApiToken


def can_manage_team_tokens(user: AbstractBaseUser, team: Team | None) -> bool:
    """A team's service tokens are made and revoked by its leads and by SREs."""
    if team is None or not user.is_authenticated or not user.is_active:
        return False
    return is_sre(user) or team_role(user, team) == Membership.Role.LEAD


def can_revoke_token(user: AbstractBaseUser, token: ApiToken) -> bool:
    """Your own tokens; a team's service tokens for its leads and SREs; any token for SREs."""
    if not user.is_authenticated:
        return False
    if token.kind == ApiToken.Kind.PERSONAL:
        return token.user_id == user.pk or is_sre(user)
    return can_manage_team_tokens(user, token.team)


def token_allows(token: ApiToken, scope: str) -> bool:
    return scope in token.scopes

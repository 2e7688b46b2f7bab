"""API tokens: made (the value shown once), used, revoked; each change an audit event."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import SERVICE_GROUP, Team
from apps.api.models import ApiToken
from apps.api.permissions import can_manage_team_tokens
from apps.audit.services import audit_record
from apps.core import inputs
from apps.environments.models import Environment

# Recognisable prefixes, so that secret scanners (and people) can tell a leaked token.
PREFIXES = {ApiToken.Kind.PERSONAL: "shirube_pat_", ApiToken.Kind.SERVICE: "shirube_svc_"}
# 40 characters of [A-Za-z0-9]: about 238 bits, so a plain SHA-256 is enough (no password hasher:
# nobody can guess a preimage of a value this long, and each request hashes it once).
BODY_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
HINT_LENGTH = 4  # characters after the prefix kept in clear, to tell tokens apart in a list
NAME_MAX_LENGTH = 80
SERVICE_SCOPES = (ApiToken.Scope.READ, ApiToken.Scope.DEPLOY)


class TokenRefused(Exception):
    """The token cannot be made as asked; the message says why (a 400 or 403 on the page)."""


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _refuse(*, by, team, message: str) -> None:
    audit_record(
        actor=by, team=team, action="api.token", outcome="refused", target="api-token", message=message
    )
    raise TokenRefused(message)


def token_create(
    *, by: AbstractBaseUser, name: str, scopes: list[str], days: int | None = None,
    team: Team | None = None, environments: list[Environment] | None = None,
) -> tuple[ApiToken, str]:  # fmt: skip
    """A personal token (no team) or a team's service token; returns it and its value, shown once.

    Refusals are audited outside the transaction that makes the token, so they stay recorded.
    """
    kind = ApiToken.Kind.SERVICE if team is not None else ApiToken.Kind.PERSONAL
    try:
        name = inputs.text(name, field="name", max_length=NAME_MAX_LENGTH)
    except inputs.InvalidInput as exc:
        _refuse(by=by, team=team, message=exc.message)
    if not name:
        _refuse(by=by, team=team, message="Give the token a name (what it is for).")
    allowed = SERVICE_SCOPES if kind == ApiToken.Kind.SERVICE else ApiToken.Scope.values
    scopes = sorted(set(scopes))
    if not scopes or any(s not in allowed for s in scopes):
        _refuse(by=by, team=team, message=f"Scopes must be some of: {', '.join(allowed)}.")
    days = settings.SHIRUBE_API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.SHIRUBE_API_TOKEN_MAX_DAYS:
        _refuse(by=by, team=team,
                message=f"A token lasts 1 to {settings.SHIRUBE_API_TOKEN_MAX_DAYS} days.")  # fmt: skip
    environments = list(environments or [])
    if kind == ApiToken.Kind.SERVICE:
        if not can_manage_team_tokens(by, team):
            _refuse(by=by, team=team, message=f"Only leads of {team.name} and SREs make its service tokens.")
        if not environments or any(e.team_id != team.pk for e in environments):
            _refuse(
                by=by, team=team, message=f"List the environments of {team.name} the token may deploy to."
            )
    elif environments:
        _refuse(
            by=by, team=team, message="Personal tokens act where their owner may; they list no environments."
        )
    with transaction.atomic():
        return _token_make(by=by, kind=kind, name=name, scopes=scopes, days=days, team=team,
                           environments=environments)  # fmt: skip


def _token_make(*, by, kind, name, scopes, days, team, environments) -> tuple[ApiToken, str]:
    value = PREFIXES[kind] + "".join(secrets.choice(_ALPHABET) for _ in range(BODY_LENGTH))
    user = by if kind == ApiToken.Kind.PERSONAL else _service_account(team=team, name=name)
    token = ApiToken.objects.create(
        kind=kind, name=name, hint=value[: len(PREFIXES[kind]) + HINT_LENGTH], digest=token_digest(value),
        user=user, team=team, scopes=scopes, created_by=by, expires_at=timezone.now() + timedelta(days=days),
    )  # fmt: skip
    token.environments.set(environments)
    audit_record(
        actor=by, team=team, action="api.token", outcome="created", target=token.audit_target,
        parameters={"kind": kind, "name": name, "scopes": scopes, "days": days,
                    "environments": [e.slug for e in environments], "acts_as": user.get_username()},
    )  # fmt: skip
    return token, value


def _service_account(*, team: Team, name: str) -> AbstractBaseUser:
    """A user for one service token: no password, in no team, so it reaches nothing but through the token."""
    User = get_user_model()
    username = f"svc.{team.slug}.{secrets.token_hex(4)}"
    user = User.objects.create(username=username, first_name=name[:150], is_active=True)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    user.groups.add(Group.objects.get_or_create(name=SERVICE_GROUP)[0])
    return user


@transaction.atomic
def token_revoke(*, token: ApiToken, by: AbstractBaseUser) -> bool:
    """Refused from the next request on; False when it already was."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    if updated:
        token.refresh_from_db()
        if token.kind == ApiToken.Kind.SERVICE:
            # The service account exists for this token only: it goes with it.
            get_user_model().objects.filter(pk=token.user_id).update(is_active=False)
        audit_record(actor=by, team=token.team, action="api.token", outcome="revoked",
                     target=token.audit_target,
                     parameters={"name": token.name, "owner": token.user.get_username()})  # fmt: skip
    return bool(updated)


def token_use(*, value: str) -> ApiToken | None:
    """The active token with this value, its last use recorded; None for anything else."""
    if not value.startswith(tuple(PREFIXES.values())) or len(value) > 100:
        return None
    token = (
        ApiToken.objects.filter(digest=token_digest(value), revoked_at__isnull=True)
        .select_related("user", "team")
        .first()
    )
    now = timezone.now()
    if token is None or token.expires_at <= now or not token.user.is_active:
        return None
    # One write a minute at most: the last use is for people, to the minute.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token

"""Password sign-in: who may use it, and the throttle on failures.

With OpenID Connect configured, password sign-in is off unless SHIRUBE_LOCAL_LOGIN turns it
on; the break-glass users (SHIRUBE_BREAK_GLASS_USERS) may always use it. Failures are
counted per user name (SHIRUBE_LOGIN_FAILURES_PER_USER) and per address
(SHIRUBE_LOGIN_FAILURES_PER_ADDRESS) in SHIRUBE_LOGIN_FAILURE_WINDOW seconds; reaching
either locks for SHIRUBE_LOGIN_LOCKOUT seconds. A lock ends on time whatever is tried
meanwhile, and a break-glass user's lock is per (name, address), so nobody elsewhere can
lock the administrator out. Every answer is the same for a user that exists and one that
does not (same message, a password hash computed either way), so the form tells nobody
which names exist.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.limits import Limit, limit_check, limit_hit, limit_reset
from apps.accounts.permissions import password_sign_in_allowed
from apps.accounts.signals import sign_in_locked

WRONG = "Your username and password did not match. Try again."


class PasswordBackend(ModelBackend):
    """Django's password check, only for the users allowed to sign in with a password now."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        if not password_sign_in_allowed(username):
            # As slow as a real check, so that the answer's timing tells nothing either.
            get_user_model()().set_password(password)
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _limit(scope: str, hits: int) -> Limit:
    return Limit(
        scope,
        hits,
        timedelta(seconds=settings.SHIRUBE_LOGIN_FAILURE_WINDOW),
        timedelta(seconds=settings.SHIRUBE_LOGIN_LOCKOUT),
    )


def _user_limit() -> Limit:
    return _limit("login-user", settings.SHIRUBE_LOGIN_FAILURES_PER_USER)


def _address_limit() -> Limit:
    return _limit("login-address", settings.SHIRUBE_LOGIN_FAILURES_PER_ADDRESS)


def client_address(request: HttpRequest) -> str:
    """The client's IP address: the connection's, or X-Forwarded-For's as set by our own proxies.

    Each of the SHIRUBE_PROXY_COUNT proxies in front appends the address it saw, so the
    client is that many entries from the end; entries before it are the client's to forge.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.SHIRUBE_PROXY_COUNT
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "unknown"


def _user_key(username: str, address: str) -> str:
    # Case-folded: Django's user names are case-sensitive, but trying ALICE and alice is one guesser.
    name = username.casefold()
    if username in settings.SHIRUBE_BREAK_GLASS_USERS:
        return f"{name}@{address}"
    return name


@dataclass(frozen=True)
class SignIn:
    user: AbstractBaseUser | None
    error: str = ""
    locked: bool = False


def _locked_message(retry_after: int) -> str:
    minutes = max(1, (retry_after + 59) // 60)
    return (
        f"Too many failed sign-ins. Password sign-in is locked here for {minutes} "
        f"minute{'s' if minutes != 1 else ''}; try again after that."
    )


def password_sign_in(*, request: HttpRequest, username: str, password: str) -> SignIn:
    """Check a password sign-in against the throttle and the password; the user, or why not."""
    address = client_address(request)
    user_key = _user_key(username, address)
    for limit, key in ((_user_limit(), user_key), (_address_limit(), address)):
        verdict = limit_check(limit=limit, key=key)
        if verdict.blocked:
            # The password is not even checked while locked: its answer would tell.
            get_user_model()().set_password(password)
            return SignIn(None, _locked_message(verdict.retry_after), locked=True)
    user = authenticate(request, username=username, password=password)
    if user is not None:
        limit_reset(limit=_user_limit(), key=user_key)
        return SignIn(user)
    locked = None
    for limit, key, what in ((_user_limit(), user_key, "user"), (_address_limit(), address, "address")):
        verdict = limit_hit(limit=limit, key=key)
        if verdict.just_blocked:
            sign_in_locked.send(
                sender=PasswordBackend, username=username, address=address, by=what,
                until=timezone.now() + timedelta(seconds=verdict.retry_after),
            )  # fmt: skip
        if verdict.blocked:
            locked = locked or verdict
    if locked:
        return SignIn(None, _locked_message(locked.retry_after), locked=True)
    return SignIn(None, WRONG)


def sign_in_unlock(*, username: str = "", address: str = "") -> None:
    """Lift a lock (manage.py unlock_sign_in): a user name's everywhere, or an address's."""
    from apps.accounts.models import Throttle

    if username:
        limit_reset(limit=_user_limit(), key=username.casefold())
        # A break-glass user's locks are per address: lift them all.
        if username in settings.SHIRUBE_BREAK_GLASS_USERS:
            Throttle.objects.filter(scope=_user_limit().scope).delete()
    if address:
        limit_reset(limit=_address_limit(), key=address)


def session_limit(request: HttpRequest) -> None:
    """End this session SHIRUBE_SESSION_HOURS after sign-in, however active it is."""
    request.session.set_expiry(timezone.now() + timedelta(hours=settings.SHIRUBE_SESSION_HOURS))

"""Which language a reader reads in: their choice on the account, then the browser's Accept-Language."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation.trans_real import parse_accept_lang_header

from apps.accounts.models import LANGUAGES, LanguagePreference

DEFAULT_LANGUAGE = "en"


def language_chosen(*, user: AbstractBaseUser) -> str:
    """The language the user chose on their account, or "" when they have not chosen."""
    if not user.is_authenticated:
        return ""
    return LanguagePreference.objects.filter(user_id=user.pk).values_list("language", flat=True).first() or ""


def language_from_header(header: str) -> str:
    """The first supported language in an Accept-Language header (by q), or ""."""
    for tag, _q in parse_accept_lang_header(header or ""):
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return ""


# The account's choice, kept in the session after the first read: every page needs it, and a
# live page's cached poll must not cost a query (tests/clusters: polls between syncs). Keyed by
# user, so a session that signs in as someone else never reads another's choice.
SESSION_KEY = "shirube_language"


def _chosen_for(request: HttpRequest) -> str:
    user = request.user
    session = getattr(request, "session", None)
    if session is None or not user.is_authenticated:
        return language_chosen(user=user)
    kept = session.get(SESSION_KEY)
    if isinstance(kept, dict) and kept.get("user") == user.pk:
        return kept.get("language", "")
    chosen = language_chosen(user=user)
    session_remember(request, chosen)
    return chosen


def session_remember(request: HttpRequest, language: str) -> None:
    """Keep the user's choice in this session (the header switch calls this after saving it)."""
    request.session[SESSION_KEY] = {"user": request.user.pk, "language": language}


def session_remember_at_sign_in(sender, request: HttpRequest, user: AbstractBaseUser, **kwargs) -> None:
    """user_logged_in receiver: read the choice once, as the session starts."""
    if request is not None and getattr(request, "session", None) is not None:
        request.session[SESSION_KEY] = {"user": user.pk, "language": language_chosen(user=user)}


def reader_language(request: HttpRequest) -> str:
    """The account's choice, then Accept-Language, then English.

    Another browser's session keeps the choice it read until it signs in again.
    """
    return (
        _chosen_for(request)
        or language_from_header(request.headers.get("Accept-Language", ""))
        or DEFAULT_LANGUAGE
    )

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


def reader_language(request: HttpRequest) -> str:
    """The account's choice, then Accept-Language, then English."""
    return (
        language_chosen(user=request.user)
        or language_from_header(request.headers.get("Accept-Language", ""))
        or DEFAULT_LANGUAGE
    )

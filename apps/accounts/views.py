"""Sign-in and sign-out: the identity provider's flow, the password form, and logout."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from apps.accounts.languages import session_remember
from apps.accounts.oidc import SignInRefused, end_session_url, provider
from apps.accounts.permissions import oidc_enabled, password_form_shown
from apps.accounts.services import language_preference_set
from apps.accounts.signin import password_sign_in, session_limit
from apps.core.inputs import InvalidInput, shown, text

log = logging.getLogger(__name__)

# Longer than any password manager's passwords; hashing megabytes would be a cheap way to load us.
MAX_PASSWORD = 1024


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _refused(request: HttpRequest, message: str, *, status: int = 403) -> HttpResponse:
    return render(request, "accounts/sign_in_refused.html", {"message": message}, status=status)


@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login(request: HttpRequest, *, break_glass: bool = False) -> HttpResponse:
    """The sign-in page: the provider's button, and the password form where it is allowed."""
    if break_glass and not settings.SHIRUBE_BREAK_GLASS_USERS:
        raise Http404
    next_url = _next_url(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form_shown = password_form_shown() or break_glass
    context = {
        "next": next_url,
        "oidc": oidc_enabled(),
        "provider_name": settings.SHIRUBE_OIDC_PROVIDER_NAME,
        "form_shown": form_shown,
        "break_glass": break_glass,
        "username": "",
    }
    if request.method != "POST":
        return render(request, "accounts/login.html", context)
    if not form_shown:
        context["error"] = "Password sign-in is turned off here: sign in with your company account."
        return render(request, "accounts/login.html", context, status=403)
    password = request.POST.get("password", "")
    try:
        username = text(request.POST.get("username", ""), field="username", max_length=150, required=True)
        text(password, field="password", max_length=MAX_PASSWORD, required=True)
    except InvalidInput as exc:
        context["error"] = exc.message
        return render(request, "accounts/login.html", context, status=400)
    context["username"] = username
    result = password_sign_in(request=request, username=username, password=password)
    if result.user is None:
        context["error"] = result.error
        return render(request, "accounts/login.html", context, status=429 if result.locked else 200)
    auth.login(request, result.user)
    session_limit(request)
    return redirect(next_url)


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The header's language switch: remember the choice on the account, and go back."""
    chosen = language_preference_set(user=request.user, language=request.POST.get("language", ""))
    session_remember(request, chosen)
    # A page's own `?lang=` (a lesson read in the other language) would outvote the choice just made.
    url = urlsplit(_next_url(request))
    query = urlencode(
        [(key, value) for key, value in parse_qsl(url.query, keep_blank_values=True) if key != "lang"]
    )
    return redirect(urlunsplit(url._replace(query=query)))


@require_POST
@login_not_required
def logout(request: HttpRequest) -> HttpResponse:
    """End the Shirube session and, when the provider offers it, the provider's session too."""
    id_token = request.session.get("oidc_id_token", "")
    came_from_provider = bool(id_token) or hasattr(request.user, "idp_identity")
    auth.logout(request)
    if oidc_enabled() and came_from_provider:
        url = end_session_url(
            id_token=id_token, post_logout_redirect_uri=request.build_absolute_uri(reverse("accounts:login"))
        )
        if url:
            return redirect(url)
    return redirect(settings.LOGOUT_REDIRECT_URL)


@method_decorator([login_not_required, never_cache], name="dispatch")
class OIDCStart(OIDCAuthenticationRequestView):
    """Send the browser to the provider, with a fresh state, nonce and PKCE challenge."""

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the endpoints come from discovery, at the request

    def get(self, request):
        if not oidc_enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider().authorization_endpoint
        except SignInRefused as exc:
            log.warning("sign-in: %s", exc.detail)
            return _refused(request, exc.message, status=503)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


STATE_UNKNOWN = (
    "This sign-in did not start here, or it was already used (a sign-in link works once). Start again."
)


@method_decorator([login_not_required, never_cache], name="dispatch")
class OIDCCallback(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here with a code; every refusal says why."""

    failure = STATE_UNKNOWN

    def get(self, request):
        if not oidc_enabled():
            raise Http404
        if request.GET.get("error"):
            # The provider refused (the person cancelled, or may not use Shirube). Its code is
            # a short word; its description is the provider's own text, bounded.
            error = shown(request.GET["error"], 60)
            description = shown(request.GET.get("error_description", ""), 200)
            said = f"{error}: {description}" if description else error
            self.failure = f"The identity provider did not sign you in ({said})."
        try:
            return super().get(request)
        except SuspiciousOperation:
            return _refused(request, STATE_UNKNOWN, status=400)
        except SignInRefused as exc:
            log.warning("sign-in refused: %s", exc.detail)
            return _refused(request, exc.message)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            log.warning("sign-in: the token endpoint answered %s", status)
            return _refused(
                request,
                "The identity provider refused this sign-in's code: it works once and for a few minutes. "
                "Start again.",
            )
        except requests.RequestException as exc:
            log.warning("sign-in: the token endpoint cannot be reached: %s", exc)
            message = "The identity provider cannot be reached just now. Try again in a minute."
            return _refused(request, message, status=503)

    def login_failure(self):
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            return _refused(self.request, "Your Shirube account is deactivated. Ask the platform team.")
        return _refused(self.request, self.failure, status=400 if self.failure == STATE_UNKNOWN else 403)

    def login_success(self):
        response = super().login_success()
        session_limit(self.request)
        return response

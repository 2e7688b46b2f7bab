"""Sign-in through the company's identity provider: OpenID Connect's Authorization Code flow.

mozilla-django-oidc runs the flow: state, nonce and the PKCE verifier (S256) per sign-in,
kept in the session and used once; the code exchange at the token endpoint. This module
adds what it leaves to the site (docs/decisions.md, issue 15):

- the provider's endpoints come from its discovery document, fetched and cached, whose
  `issuer` must be exactly the configured one;
- the ID token is checked with PyJWT against the provider's JWKS (cached; a key id not
  in the cache fetches the set again, so a rotated key is picked up at once): an
  asymmetric signature, `iss`, `aud` (and `azp` when there are several audiences), `exp`,
  `iat` and the nonce, all required;
- the account is found by (issuer, sub), never by e-mail, and its teams and roles are set
  from the groups claim at every sign-in (apps.accounts.services.idp_user_sign_in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from apps.accounts import services
from apps.accounts.permissions import oidc_enabled
from apps.core.inputs import shown

log = logging.getLogger(__name__)

# Asymmetric algorithms only: an HS256 token would be "signed" with our own client secret,
# and "none" with nothing.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Clock difference allowed between the provider and us, in seconds.
LEEWAY = 60
# What a person is told when the ID token fails a check: the first matching error's words.
TOKEN_ERRORS = [
    (jwt.ExpiredSignatureError, "The identity provider's token has expired. Sign in again."),
    (jwt.InvalidAudienceError, "The identity provider's token was issued to another application."),
    (jwt.InvalidIssuerError, "The token comes from another identity provider than Shirube's."),
    (jwt.InvalidSignatureError, "The identity provider's token is not signed by any of its keys."),
    (jwt.PyJWTError, "The identity provider's token did not check out. Sign in again."),
]


class SignInRefused(Exception):
    """A sign-in through the provider was refused; `message` is for the person, `detail` for the log."""

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail or message


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str
    token_auth_methods: tuple[str, ...]


def _get_json(url: str, what: str) -> dict:
    try:
        response = requests.get(url, timeout=settings.SHIRUBE_OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SignInRefused(
            "The identity provider cannot be reached just now. Try again in a minute; if it goes on, "
            "tell the platform team.",
            detail=f"{what} {url}: {exc}",
        ) from exc
    if not isinstance(document, dict):
        raise SignInRefused("The identity provider answered in a way Shirube does not understand.",
                            detail=f"{what} {url} is not a JSON object")  # fmt: skip
    return document


def provider() -> Provider:
    """The configured provider's endpoints, from its discovery document (cached)."""
    issuer = settings.SHIRUBE_OIDC_ISSUER
    key = f"oidc:discovery:{issuer}"
    document = cache.get(key)
    if document is None:
        document = _get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration", "discovery")
        # OpenID Connect Discovery 1.0, section 4.3: the document's issuer is exactly ours, or
        # the document (and every token checked against it) belongs to someone else.
        if document.get("issuer") != issuer:
            raise SignInRefused(
                "Shirube's sign-in is misconfigured: the identity provider names another issuer. "
                "Tell the platform team.",
                detail=f"discovery issuer {shown(document.get('issuer'))} is not {issuer}",
            )
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(k)]
        if missing:
            raise SignInRefused(
                "The identity provider's configuration is incomplete. Tell the platform team.",
                detail=f"discovery lacks {', '.join(missing)}",
            )
        cache.set(key, document, settings.SHIRUBE_OIDC_CACHE_SECONDS)
    return Provider(
        issuer=issuer,
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        end_session_endpoint=document.get("end_session_endpoint") or "",
        token_auth_methods=tuple(
            document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        ),
    )


def _jwks(jwks_uri: str, *, refresh: bool) -> list[dict]:
    key = f"oidc:jwks:{jwks_uri}"
    keys = None if refresh else cache.get(key)
    if keys is None:
        keys = _get_json(jwks_uri, "JWKS").get("keys")
        if not isinstance(keys, list):
            raise SignInRefused("The identity provider's keys could not be read. Tell the platform team.",
                                detail=f"JWKS {jwks_uri} has no key list")  # fmt: skip
        cache.set(key, keys, settings.SHIRUBE_OIDC_CACHE_SECONDS)
    return keys


def _signing_key(token: str, jwks_uri: str) -> tuple[jwt.PyJWK, str]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignInRefused("The identity provider's answer was not a valid token.", detail=str(exc)) from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise SignInRefused("The identity provider's token is signed in a way Shirube refuses.",
                            detail=f"ID token alg {shown(alg)}")  # fmt: skip
    for refresh in (False, True):  # a key id we do not know: the provider may have rotated its keys
        candidates = [
            k for k in _jwks(jwks_uri, refresh=refresh)
            if isinstance(k, dict) and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg
            and (kid is None or k.get("kid") == kid)
        ]  # fmt: skip
        if len(candidates) == 1:
            try:
                return jwt.PyJWK(candidates[0], algorithm=alg), alg
            except jwt.PyJWTError as exc:
                raise SignInRefused("The identity provider's signing key could not be read.",
                                    detail=str(exc)) from exc  # fmt: skip
    raise SignInRefused(
        "The identity provider's token is not signed by any of its keys.",
        detail=f"no single JWKS key for kid {shown(kid)} alg {alg}",
    )


def id_token_verify(*, id_token: str, nonce: str, client_id: str, prov: Provider) -> dict:
    """The ID token's claims, once its signature, issuer, audience, times and nonce all check out."""
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused(
            "The identity provider sent no ID token.", detail="no id_token in the token response"
        )
    key, alg = _signing_key(id_token, prov.jwks_uri)
    try:
        claims = jwt.decode(
            id_token, key=key.key, algorithms=[alg], audience=client_id, issuer=prov.issuer, leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_signature": True},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        message = next(text for error, text in TOKEN_ERRORS if isinstance(exc, error))
        raise SignInRefused(message, detail=str(exc)) from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignInRefused("The identity provider's token was issued to another application.",
                            detail=f"azp {shown(claims.get('azp'))} with several audiences")  # fmt: skip
    if not nonce or claims.get("nonce") != nonce:
        raise SignInRefused("The identity provider's token belongs to another sign-in. Sign in again.",
                            detail="nonce mismatch")  # fmt: skip
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise SignInRefused("The identity provider's token names nobody.", detail="empty sub")
    return claims


def _claim_text(claims: dict, name: str) -> str:
    value = claims.get(name) if name else None
    return value.strip() if isinstance(value, str) else ""


def groups_from_claims(claims: dict) -> list[str] | None:
    """The groups claim as a list of strings; None when group mapping is off.

    Entra ID leaves the groups out of a token for someone in too many groups ("group
    overage") and points to Microsoft Graph instead (`_claim_names`): that sign-in is refused
    with the way out, rather than read as "in no group", which would take every right away.
    """
    claim = settings.SHIRUBE_OIDC_GROUPS_CLAIM
    if not claim:
        return None
    claim_names = claims.get("_claim_names")
    if (isinstance(claim_names, dict) and claim in claim_names) or claims.get("hasgroups"):
        raise SignInRefused(
            "Your identity provider left your groups out of the sign-in (you are in more groups than it "
            "puts in a token: Entra ID's “group overage”), so Shirube cannot tell your teams. Your access "
            "is unchanged. The platform team can fix it by sending only the groups assigned to the "
            "application (see docs/sso.md).",
            detail=f"groups overage: {claim} in _claim_names",
        )
    value = claims.get(claim, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(group, str) for group in value):
        raise SignInRefused("Your identity provider sent your groups in a form Shirube does not understand. "
                            "Your access is unchanged; tell the platform team.",
                            detail=f"{claim} claim is {type(value).__name__}")  # fmt: skip
    return value


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with discovery, our token checks and (issuer, sub) accounts."""

    def __init__(self, *args, **kwargs):
        # The library reads every endpoint from settings here; ours come from discovery at
        # sign-in, so constructing the backend (on every authenticate and session load)
        # costs nothing and needs no provider when OIDC is off.
        self.UserModel = get_user_model()

    def get_settings(self, attr, *args):
        if attr == "OIDC_TOKEN_USE_BASIC_AUTH":
            # HTTP Basic, which RFC 6749 makes every provider support (and some, like Okta's
            # default web app, insist on), unless the provider takes only the form.
            methods = self.provider.token_auth_methods
            return "client_secret_basic" in methods or "client_secret_post" not in methods
        return import_from_settings(attr, *args)

    # The library's get_user loads any user by id; Django's also refuses a deactivated one, so
    # deactivating someone in the admin ends their session at the next request.
    get_user = ModelBackend.get_user

    def authenticate(self, request, nonce=None, code_verifier=None, **kwargs):
        # Only the callback view passes a nonce and a verifier, after it matched the state: a
        # code sent anywhere else (a password form's query string) is never exchanged.
        if request is None or not oidc_enabled() or not nonce or not code_verifier:
            return None
        self.provider = provider()
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)

    def verify_token(self, token, **kwargs):
        return id_token_verify(
            id_token=token,
            nonce=kwargs.get("nonce") or "",
            client_id=self.OIDC_RP_CLIENT_ID,
            prov=self.provider,
        )

    def get_or_create_user(self, access_token, id_token, payload):
        claims = payload  # the verified ID token's claims; the userinfo endpoint is not needed
        groups = groups_from_claims(claims)
        return services.idp_user_sign_in(
            issuer=self.provider.issuer,
            subject=claims["sub"],
            username=_claim_text(claims, settings.SHIRUBE_OIDC_USERNAME_CLAIM),
            email=_claim_text(claims, settings.SHIRUBE_OIDC_EMAIL_CLAIM),
            first_name=_claim_text(claims, "given_name") or _claim_text(claims, "name"),
            last_name=_claim_text(claims, "family_name"),
            groups=groups,
        )


def end_session_url(*, id_token: str, post_logout_redirect_uri: str) -> str:
    """The provider's RP-initiated logout address for this session, or '' if it offers none."""
    from urllib.parse import urlencode

    try:
        prov = provider()
    except SignInRefused as exc:
        log.warning("logout: %s", exc.detail)
        return ""
    if not prov.end_session_endpoint:
        return ""
    params = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": post_logout_redirect_uri}
    if id_token:
        params["id_token_hint"] = id_token
    separator = "&" if "?" in prov.end_session_endpoint else "?"
    return f"{prov.end_session_endpoint}{separator}{urlencode(params)}"

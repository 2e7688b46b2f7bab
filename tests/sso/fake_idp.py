"""A small OpenID provider over real HTTP on loopback, whose tokens the tests choose.

Keycloak only issues good tokens; the attacks (another key, another audience, a wrong
nonce, an expired token, another issuer) need a provider that signs what the test says.
It serves discovery, the JWKS, the authorization endpoint (which sends the browser
straight back with a code) and the token endpoint (which answers that code with an ID
token signed by the key the test picked, carrying the nonce it was asked for unless the
test overrides a claim).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class FakeIdP:
    def __init__(self, *, client_id: str) -> None:
        self.client_id = client_id
        self.key, self.kid = rsa_key(), "key-1"
        self.published = [public_jwk(self.key, self.kid)]  # what the JWKS endpoint serves
        self.sign_with = None  # (key, kid) to sign with instead of the published one
        self.claims: dict = {}  # claims to add or override in the next ID tokens
        self.codes: dict[str, dict] = {}  # code -> the authorization request's parameters
        self.jwks_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/idp"

    def __enter__(self) -> FakeIdP:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def rotate(self) -> None:
        """A new signing key with a new id, published alone (the old one withdrawn)."""
        self.key, self.kid = rsa_key(), f"key-{int(time.time() * 1000)}"
        self.published = [public_jwk(self.key, self.kid)]

    def id_token(self, request: dict) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": "fake-sub-1", "aud": self.client_id, "iat": now, "exp": now + 300,
            "nonce": request.get("nonce"), "preferred_username": "forged", "email": "forged@example.com",
            "groups": [],
        }  # fmt: skip
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key, kid = self.sign_with or (self.key, self.kid)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def _handler(self):
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path == "/idp/.well-known/openid-configuration":
                    base = idp.issuer
                    return self._json({
                        "issuer": base, "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/jwks",
                        "end_session_endpoint": f"{base}/logout",
                        "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    })  # fmt: skip
                if url.path == "/idp/jwks":
                    idp.jwks_fetches += 1
                    return self._json({"keys": idp.published})
                if url.path == "/idp/authorize":
                    request = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    code = secrets.token_urlsafe(16)
                    idp.codes[code] = request
                    back = f"{request['redirect_uri']}?{urlencode({'code': code, 'state': request['state']})}"
                    self.send_response(302)
                    self.send_header("Location", back)
                    self.end_headers()
                    return None
                return self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                request = idp.codes.pop(form.get("code", ""), None)
                if self.path != "/idp/token" or request is None:
                    return self._json({"error": "invalid_grant"}, 400)
                return self._json({"access_token": "opaque", "token_type": "Bearer",
                                   "id_token": idp.id_token(request)})  # fmt: skip

        return Handler

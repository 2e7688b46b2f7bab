"""The realm the sign-in tests import into Keycloak: users, groups and Shirube's client."""

from __future__ import annotations

REALM = "shirube"
CLIENT_ID = "shirube-portal"
CLIENT_SECRET = "test-client-secret-not-used-anywhere-else"
PASSWORD = "correct-horse-battery"

# Groups as Keycloak holds them; the token carries full paths (/eng/payments).
GROUPS = {"eng": ["payments", "payments-leads", "search"], "platform": ["sre"]}

# username: (e-mail, first name, last name, group paths)
USERS = {
    "dev-ana": ("ana@example.com", "Ana", "Developer", ["/eng/payments"]),
    # Only the group-change test signs in as Moe: it changes his groups in Keycloak, which
    # lives for the whole session.
    "dev-moe": ("moe@example.com", "Moe", "Mover", ["/eng/payments"]),
    "lead-ken": ("ken@example.com", "Ken", "Lead", ["/eng/payments", "/eng/payments-leads"]),
    "ops-rin": ("rin@example.com", "Rin", "Operator", ["/platform/sre"]),
    "twin-one": ("shared@example.com", "Twin", "One", ["/eng/search"]),
    "twin-two": ("shared@example.com", "Twin", "Two", ["/eng/payments"]),
    "no-groups": ("none@example.com", "Nobody", "Grouped", []),
}


def realm_json() -> dict:
    return {
        "realm": REALM,
        "enabled": True,
        "sslRequired": "none",
        # Two people may share an address (the tests check they stay two accounts).
        "duplicateEmailsAllowed": True,
        "loginWithEmailAllowed": False,
        "accessTokenLifespan": 300,
        "groups": [
            {"name": parent, "subGroups": [{"name": child} for child in children]}
            for parent, children in GROUPS.items()
        ],
        "users": [
            {
                "username": username,
                "email": email,
                "emailVerified": True,
                "firstName": first,
                "lastName": last,
                "enabled": True,
                "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
                "groups": groups,
                "requiredActions": [],
            }
            for username, (email, first, last, groups) in USERS.items()
        ],
        "clients": [
            {
                "clientId": CLIENT_ID,
                "name": "Shirube",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "secret": CLIENT_SECRET,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                # The test server's address changes every run (a free port): any redirect is
                # allowed in this throwaway realm. A real client lists its one callback URL.
                "redirectUris": ["*"],
                "webOrigins": ["+"],
                "attributes": {
                    "pkce.code.challenge.method": "S256",
                    "post.logout.redirect.uris": "+",
                },
                "protocolMappers": [
                    {
                        "name": "groups",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-group-membership-mapper",
                        "config": {
                            "claim.name": "groups",
                            "full.path": "true",
                            "id.token.claim": "true",
                            "access.token.claim": "true",
                            "userinfo.token.claim": "true",
                        },
                    }
                ],
            }
        ],
    }

"""The one redaction function, over hostile payloads seen in probes, hooks, URLs and messages."""

from __future__ import annotations

import orjson
import pytest

from apps.clusters.redact import datadog_annotation, redact

# (text, the secrets that must be gone, what must stay readable)
PAYLOADS = [
    ("mysqladmin ping -h 127.0.0.1 -uroot -pS3cr3t!", ["S3cr3t!"], ["mysqladmin ping", "-uroot", "-p***"]),
    (
        "/bin/sh -c mysqladmin ping -u root -p$MYSQL_ROOT_PASSWORD",
        ["$MYSQL_ROOT_PASSWORD"],
        ["mysqladmin ping"],
    ),
    ("mysql --password=hunter2 -e 'select 1'", ["hunter2"], ["--password=***", "select 1"]),
    ("mysql --password hunter2 -e 'select 1'", ["hunter2"], ["--password ***"]),
    ("pg_isready --pass letmein", ["letmein"], ["pg_isready"]),
    ("openssl s_client -pass pass:topsecret", ["topsecret"], ["openssl s_client"]),
    (
        'curl -fsS -H "Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIx.sig" http://localhost:8080/health',
        ["eyJhbGciOi", "eyJzdWIiOiIx"],
        ["curl -fsS", "Authorization: Bearer ***", "http://localhost:8080/health"],
    ),
    (
        "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' http://x/",
        ["dXNlcjpwYXNzd29yZA=="],
        ["Basic ***"],
    ),
    ("curl -H Authorization:abc123tok http://x/", ["abc123tok"], ["Authorization:"]),
    ("wget --header=X-Api-Key:K3YV4LU3 -qO- http://x/", ["K3YV4LU3"], ["wget"]),
    ('curl -H "X-Auth-Token: 0123abcd" http://x/', ["0123abcd"], ["X-Auth-Token: ***"]),
    ("curl http://x/health?token=abcdef&verbose=1", ["abcdef"], ["token=***", "verbose=1"]),
    ("curl 'http://x/metrics?apikey=QWERTY123&key=zzz9'", ["QWERTY123", "zzz9"], ["/metrics"]),
    ("check --secret=s3 --api-key abc987", ["s3", "abc987"], ["check"]),
    ("curl -u admin:adminpw http://x/", ["adminpw"], ["-u admin:***"]),
    ("curl --user=admin:pw123 http://x/", ["pw123"], ["admin:***"]),
    ("redis-cli -h redis -a r3d1spw ping", ["r3d1spw"], ["redis-cli -h redis -a ***", "ping"]),
    (
        "psql postgres://app:dbpass@db.internal:5432/app -c 'select 1'",
        ["dbpass"],
        ["postgres://app:***@db.internal:5432/app"],
    ),
    (
        "git ls-remote https://x-access-token:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
        ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
        ["https://x-access-token:***@github.com/o/r"],
    ),
    ("sh -c PGPASSWORD=pgpw psql -h db -c 'select 1'", ["pgpw"], ["PGPASSWORD=***", "psql -h db"]),
    ("env MYSQL_PWD=mpw REDISCLI_AUTH=rpw check", ["mpw", "rpw"], ["MYSQL_PWD=***", "REDISCLI_AUTH=***"]),
    ("aws s3 ls --profile x AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", ["AKIAIOSFODNN7EXAMPLE"], ["aws s3 ls"]),
    (
        "export SECRET=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        [],
    ),
    (
        "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here",
        ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        ["here"],
    ),
    ("notify xoxb-123456789012-abcdefghij", ["xoxb-123456789012-abcdefghij"], ["notify"]),
    ('{"username": "datadog", "password": "ddpw"}', ["ddpw"], ['"username": "datadog"']),
    # Flux messages quote clone URLs with their credentials.
    (
        "failed to checkout: unable to clone 'https://bot:tok3n@git.example.com/app.git': auth failed",
        ["tok3n"],
        ["https://bot:***@git.example.com/app.git"],
    ),
    # A row cut short after the password, as rows stored before redaction were.
    ("git clone https://deploy:s3cr", ["s3cr"], ["https://deploy:***"]),
]


@pytest.mark.parametrize(("text", "secrets", "kept"), PAYLOADS, ids=[p[0][:40] for p in PAYLOADS])
def test_credentials_are_redacted_and_the_rest_stays_readable(text, secrets, kept):
    out = redact(text)
    for secret in secrets:
        assert secret not in out, out
    for fragment in kept:
        assert fragment in out, out


@pytest.mark.parametrize(
    "text",
    [
        "/readyz", "/healthz:8080", "sleep 15", "/bin/sh -c sleep 15", "nginx -s quit",
        "https://github.com/org/repo.git", "https://charts.example.com:8443", "ssh://git@github.com/org/repo",
        "main@sha1:0123456789abcdef0123456789abcdef01234567", "Applied revision: main@sha1:0123456789abcdef",
        "back-off 5m0s restarting failed container=api pod=api-7d9f", "0/3 nodes are available: 3 Insufficient memory.",
        "registry.example.com/checkout-api:1.4.2", "grpc_health_probe -addr=:8080",
    ],
)  # fmt: skip
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_redaction_is_idempotent():
    for text, _, _ in PAYLOADS:
        once = redact(text)
        assert redact(once) == once


# --- Datadog annotations ----------------------------------------------------------------

CHECKS = {
    "openmetrics": {
        "init_config": {},
        "instances": [{"openmetrics_endpoint": "http://user:ompw@%%host%%:8080/metrics", "metrics": [".*"]}],
    },
    "postgres": {"instances": [{"host": "%%host%%", "username": "datadog", "password": "pgpw"}]},
}


def test_a_checks_annotation_keeps_check_names_and_endpoints_only():
    kept = datadog_annotation("ad.datadoghq.com/api.checks", orjson.dumps(CHECKS).decode())
    assert orjson.loads(kept) == {
        "openmetrics": {"instances": 1, "openmetrics_endpoint": True},
        "postgres": {"instances": 1, "openmetrics_endpoint": False},
    }
    assert "pgpw" not in kept and "ompw" not in kept and "datadog" not in kept


def test_v1_annotations_keep_names_and_endpoints_and_drop_the_rest():
    names = datadog_annotation("ad.datadoghq.com/api.check_names", '["postgres", "openmetrics"]')
    assert orjson.loads(names) == ["postgres", "openmetrics"]
    instances = datadog_annotation(
        "ad.datadoghq.com/api.instances",
        '[{"host": "%%host%%", "password": "pgpw"}, {"prometheus_url": "http://%%host%%:9090/metrics"}]',
    )
    assert orjson.loads(instances) == [{"openmetrics_endpoint": False}, {"openmetrics_endpoint": True}]
    assert datadog_annotation("ad.datadoghq.com/api.init_configs", '[{"password": "x"}]') is None
    assert datadog_annotation("ad.datadoghq.com/api.logs", '[{"source": "x"}]') is None
    assert datadog_annotation("ad.datadoghq.com/tags", '{"team": "x"}') is None


def test_an_unreadable_checks_annotation_still_counts_as_declared_but_keeps_nothing():
    kept = datadog_annotation("ad.datadoghq.com/api.checks", '{"postgres": {"password": "pgpw"')
    assert kept and "pgpw" not in kept

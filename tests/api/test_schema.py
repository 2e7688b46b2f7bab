"""Schemathesis against the served OpenAPI document: every operation, with tokens of each kind and
scope and with bad ones; no 500s, every answer as the document says. Bounded and derandomized
(25 examples an operation) so that runs repeat and `make test` stays quick."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.environments.models import Deployment
from tests.environments.envfixtures import approval, pods_running, staging_healthy

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]  # fmt: skip


# Loaded when the module is collected (Django is set up by then): one test per operation.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _connection_kept(db):
    """As Django's test client does: the handler must not close the test's connection (and so its
    transaction) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, people, envs, teams, token_for, settings):
    # Enough budget for every example: the limits have their own tests.
    settings.SHIRUBE_API_READ_LIMIT = settings.SHIRUBE_API_WRITE_LIMIT = 100_000
    staging_healthy(envs)
    pods_running(envs["production"], "v2.14.3")
    request = approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    deployment = Deployment.objects.create(environment=envs["production"], kind="promote", tag="v2.14.3",
                                           idempotency_key="earlier", requested_by=people["lead"])  # fmt: skip
    every = ["read", "deploy", "approve", "flux"]
    return {
        "approval": request.pk,
        "deployment": deployment.pk,
        "member": token_for(people["member"], scopes=every),
        "lead": token_for(people["lead"], scopes=every),
        "sre": token_for(people["sre"], scopes=every),
        "read only": token_for(people["other team"], scopes=["read"]),
        "service": token_for(
            people["lead"], scopes=["read", "deploy"], team=teams["payments"], environments=[envs["staging"]]
        ),  # fmt: skip
        "bad": "shirube_pat_" + "0" * 40,
        "none": "",
    }


# Path parameters that name real rows, so that examples reach the selectors and services with data
# (random ones mostly meet a 404); the bodies and query strings stay generated.
REAL = {"slug": "payments", "env": "checkout-api-production", "approval_id": None, "deployment_id": None}


@schema.parametrize()
@schema.given(who=st.sampled_from(["member", "lead", "sre", "read only", "service", "bad", "none"]),
              real=st.booleans())  # fmt: skip
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_every_operation_answers_as_documented(case, who, real, tokens):
    if real and case.path_parameters:
        known = {**REAL, "approval_id": tokens["approval"], "deployment_id": tokens["deployment"]}
        case.path_parameters = {k: known.get(k, v) for k, v in case.path_parameters.items()}
    headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
    case.call_and_validate(headers=headers, checks=CHECKS)

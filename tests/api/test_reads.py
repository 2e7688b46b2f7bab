"""Reads: what the pages show, from the database only, paginated, with a flat number of queries."""

from __future__ import annotations

import pytest

from apps.clusters.models import Pod
from tests.environments.envfixtures import approval, pods_running, staging_healthy


@pytest.mark.django_db
def test_me_tells_teams_roles_and_phases(people, token_for, bearer):
    body = bearer(token_for(people["lead"])).get("/api/v1/me").json()
    assert body["username"] == "carol"
    assert body["teams"] == [{"team": "payments", "role": "lead"}]
    assert body["scopes"] == ["read"] and body["token_kind"] == "personal"


@pytest.mark.django_db
def test_environments_show_tag_live_state_and_pin(people, envs, token_for, bearer):
    staging_healthy(envs)
    rows = bearer(token_for(people["member"])).get("/api/v1/teams/payments/environments").json()
    by_slug = {r["slug"]: r for r in rows}
    assert by_slug["checkout-api-staging"]["git_tag"] == "v2.15.0"
    assert by_slug["checkout-api-staging"]["live_state"] == "healthy"
    assert by_slug["checkout-api-production"]["promotes_from"] == "checkout-api-staging"


@pytest.mark.django_db
def test_pods_are_paginated_with_a_cursor(people, envs, token_for, bearer):
    pods_running(envs["staging"], "v2.15.0", count=7)
    client = bearer(token_for(people["member"]))
    seen, url = [], "/api/v1/teams/payments/pods?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [p["name"] for p in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(Pod.objects.values_list("name", flat=True)) and len(seen) == 7


@pytest.mark.django_db
@pytest.mark.parametrize("path", [
    "/api/v1/teams/payments/pods", "/api/v1/teams/payments/workloads", "/api/v1/teams/payments/namespaces", "/api/v1/teams/payments/flux-objects",
    "/api/v1/teams/payments/environments", "/api/v1/teams/payments/environments/checkout-api-production/approvals",
    "/api/v1/teams/payments/environments/checkout-api-staging/deployments", "/api/v1/teams",
])  # fmt: skip
def test_queries_do_not_grow_with_the_rows(
    path, people, envs, token_for, bearer, django_assert_max_num_queries
):
    client = bearer(token_for(people["member"]))
    pods_running(envs["staging"], "v2.15.0", count=2)
    approval(envs["production"], tag="v2.15.0", requested_by=people["member"])
    client.get(path)  # warm: the token's last use, the limiter's row
    with django_assert_max_num_queries(14) as few:
        assert client.get(path).status_code == 200
    pods_running(envs["staging"], "v2.15.0", count=40)
    for n in range(20):
        approval(envs["production"], tag=f"v2.{n}.0", requested_by=people["member"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_a_service_token_reads_only_its_own_team(people, envs, teams, token_for, bearer):
    value = token_for(people["lead"], scopes=["read"], team=teams["payments"], environments=[envs["staging"]])
    client = bearer(value)
    assert client.get("/api/v1/teams/payments/environments").status_code == 200
    assert client.get("/api/v1/teams/search/environments").status_code == 404
    assert [t["slug"] for t in client.get("/api/v1/teams").json()["results"]] == ["payments"]


@pytest.mark.django_db
def test_members_only_pages_hold_for_the_api(people, envs, token_for, bearer, settings):
    settings.SHIRUBE_TEAM_PAGES_MEMBERS_ONLY = True
    client = bearer(token_for(people["other team"]))
    assert client.get("/api/v1/teams/payments/pods").status_code == 404
    assert client.get("/api/v1/teams/payments/environments").status_code == 404
    assert [t["slug"] for t in client.get("/api/v1/teams").json()["results"]] == ["search"]


@pytest.mark.django_db
def test_a_token_without_read_reads_nothing(people, token_for, bearer):
    response = bearer(token_for(people["member"], scopes=["deploy"])).get("/api/v1/me")
    assert response.status_code == 403 and "read" in response.json()["detail"]


@pytest.mark.django_db
def test_the_openapi_document_and_docs_page_are_served_under_the_csp(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/teams/{slug}/environments/{env}/deployments" in document["paths"]
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    page = client.get("/api/v1/docs")
    html = page.content.decode()
    assert page.status_code == 200 and "script-src 'self'" in page["Content-Security-Policy"]
    assert "cdn" not in html.lower()
    # Every script is a file of the site's or a JSON data block, never inline code.
    import re

    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag


@pytest.mark.django_db
def test_namespaces_are_the_team_s(people, envs, token_for, bearer):
    body = bearer(token_for(people["member"])).get("/api/v1/teams/payments/namespaces").json()
    assert sorted(n["name"] for n in body["results"]) == ["payments", "payments-staging"]
    assert {n["cluster"] for n in body["results"]} == {"demo-rows"}

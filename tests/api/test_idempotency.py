"""Idempotency-Key under concurrency: two requests at once with one key make one action."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from apps.clusters.models import FluxAction, FluxObject

FLUX_ACTIONS = "/api/v1/flux-actions"


def _helm_release(envs) -> FluxObject:
    return FluxObject.objects.create(
        cluster=envs["cluster"], kind="HelmRelease", namespace="payments-staging", name="checkout-cache",
        uid="hr-1", resource_version="1", api_version="helm.toolkit.fluxcd.io/v2", ready_status="True",
    )  # fmt: skip


@pytest.mark.django_db
def test_a_flux_action_through_the_api_is_the_page_s(people, envs, token_for, bearer):
    _helm_release(envs)
    body = {"cluster": "demo-rows", "kind": "HelmRelease", "namespace": "payments-staging",
            "name": "checkout-cache", "action": "suspend", "reason": ""}  # fmt: skip
    client = bearer(token_for(people["member"], scopes=["flux"]))
    assert client.post(FLUX_ACTIONS, body).status_code == 400  # a suspension needs its reason
    response = client.post(FLUX_ACTIONS, {**body, "reason": "noisy while we migrate"})
    assert response.status_code == 202, response.content
    assert FluxAction.objects.get().channel == "api"
    assert response["Location"] == f"/api/v1/flux-actions/{FluxAction.objects.get().pk}"
    outsider = bearer(token_for(people["other team"], scopes=["flux"]))
    assert outsider.post(FLUX_ACTIONS, {**body, "reason": "mine now"}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_with_one_key_make_one_action(people, envs, token_for):
    _helm_release(envs)
    value = token_for(people["member"], scopes=["flux"])
    body = {"cluster": "demo-rows", "kind": "HelmRelease", "namespace": "payments-staging",
            "name": "checkout-cache", "action": "reconcile"}  # fmt: skip
    start, answers = threading.Barrier(2), []

    def post() -> None:
        try:
            start.wait()
            response = Client().post(
                FLUX_ACTIONS, body, content_type="application/json",
                headers={"Authorization": f"Bearer {value}", "Idempotency-Key": "once"},
            )  # fmt: skip
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) in ([202, 202], [202, 409]), answers
    assert FluxAction.objects.count() == 1

"""Flux events pushed in: signed hints to read one object again, refused and counted otherwise."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest
from django.core.cache import cache
from django.test import TestCase

from apps.clusters import sync, tasks
from apps.clusters.flux_events import flux_event_counts
from apps.clusters.models import FluxObject

pytestmark = pytest.mark.django_db

KEY = b"a-provider-token-of-32-bytes-xyz"
URL = "/hooks/flux/demo/"
KUSTOMIZATION = ("kustomizations.kustomize.toolkit.fluxcd.io", "flux-system", "payments-apps")


@pytest.fixture
def receiving(settings, tmp_path, synced, monkeypatch):
    """Receiving on for the demo cluster (its key file), the refresh run inline as a worker would."""
    (tmp_path / "demo").write_bytes(KEY + b"\n")  # a trailing newline, as `kubectl create secret` files have
    settings.SHIRUBE_FLUX_EVENTS_KEY_DIR = str(tmp_path)
    cache.clear()
    refreshed = []
    monkeypatch.setattr(
        tasks.flux_object_refresh, "delay", lambda *args: refreshed.append(tasks.flux_object_refresh(*args))
    )
    return refreshed


def event(name: str = "payments-apps", **extra) -> bytes:
    return orjson.dumps(
        {
            "involvedObject": {
                "kind": "Kustomization",
                "namespace": "flux-system",
                "name": name,
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            },
            "severity": "error",
            "reason": "ReconciliationFailed",
            "message": "kustomize build failed",
            "reportingController": "kustomize-controller",
            **extra,
        }  # fmt: skip
    )


def post(client, body: bytes, *, signature: str | None = "auto", url: str = URL, **headers):
    if signature == "auto":
        signature = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
    if signature is not None:
        headers["HTTP_X_SIGNATURE"] = signature
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, body, content_type="application/json", **headers)


def test_a_signed_event_refreshes_its_object_from_the_api(client, sim, receiving):
    sim.store.update(
        *KUSTOMIZATION,
        lambda k: k["status"]["conditions"][0].update(status="False", reason="BuildFailed", message="boom"),
        status_only=True,
    )
    response = post(client, event(status={"ready": "True"}))  # whatever the body says, the API decides
    assert response.status_code == 202
    assert receiving == ["written"]
    row = FluxObject.objects.get(kind="Kustomization", name="payments-apps")
    assert (row.ready_status, row.ready_reason) == ("False", "BuildFailed")
    assert flux_event_counts(row.cluster_id) == {"accepted": 1}


def test_a_replayed_event_costs_one_read(client, sim, receiving):
    body = event()
    answers = {post(client, body).status_code for _ in range(50)}
    assert answers == {202}  # a replay is not told apart: it costs nothing more
    assert len(receiving) == 1
    counts = flux_event_counts(FluxObject.objects.first().cluster_id)
    assert counts == {"accepted": 50, "accepted, refreshed lately": 49}


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "unsigned"),
        ("sha256=" + "0" * 64, "bad signature"),
        ("sha1=" + hmac.new(KEY, event(), hashlib.sha1).hexdigest(), "unknown signature algorithm"),
        ("sha256=" + hmac.new(b"another-key-entirely-0123456789", event(), hashlib.sha256).hexdigest(),
         "bad signature"),
        ("sha256", "unknown signature algorithm"),
    ],
)  # fmt: skip
def test_an_unsigned_or_wrongly_signed_event_is_refused_and_counted(
    client, sim, receiving, signature, reason
):
    response = post(client, event(), signature=signature)
    assert response.status_code == 401 and reason in response.content.decode()
    assert receiving == []
    assert flux_event_counts(FluxObject.objects.first().cluster_id) == {f"refused: {reason}": 1}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (orjson.dumps({"message": "no object"}), "no involvedObject"),
        (orjson.dumps({"involvedObject": {"kind": "Secret", "namespace": "a", "name": "b"}}), "not a Flux kind"),
        (orjson.dumps({"involvedObject": {"kind": "Kustomization", "namespace": "../x", "name": "b"}}),
         "malformed name"),
    ],
)  # fmt: skip
def test_a_malformed_signed_event_is_refused_and_counted(client, sim, receiving, body, reason):
    response = post(client, body)
    assert response.status_code == 400 and reason in response.content.decode()
    assert receiving == []


def test_a_body_over_64_kib_is_refused_unread(client, sim, receiving):
    body = event(message="x" * 70_000)
    response = post(client, body)
    assert response.status_code == 413
    assert receiving == []
    assert flux_event_counts(FluxObject.objects.first().cluster_id) == {"refused: too large": 1}


def test_no_key_or_no_cluster_is_one_answer(client, sim, receiving, settings, tmp_path):
    assert post(client, event(), url="/hooks/flux/nowhere/").status_code == 404
    (tmp_path / "demo").unlink()
    assert post(client, event()).status_code == 404
    settings.SHIRUBE_FLUX_EVENTS_KEY_DIR = ""
    assert post(client, event()).status_code == 404
    assert receiving == []


def test_a_gone_object_is_deleted_on_its_event(client, sim, receiving):
    sim.store.delete(*KUSTOMIZATION)
    assert post(client, event()).status_code == 202
    assert receiving == ["written"]
    assert not FluxObject.objects.filter(kind="Kustomization", name="payments-apps").exists()
    # ...and the next full sync agrees.
    result = sync.cluster_sync(cluster=FluxObject.objects.first().cluster)
    assert result.kinds["kustomizations"].deleted == 0

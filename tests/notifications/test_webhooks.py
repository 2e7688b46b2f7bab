"""Outbound webhooks through the outbox: signed, retried until the receiver is back, and never sent
to private, loopback or link-local addresses (refused at registration and again at delivery)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Delivery, WebhookEndpoint
from apps.notifications.webhooks import UnsafeEndpoint


class Receiver:
    """A webhook receiver on loopback that records what it got and checks each signature."""

    def __init__(self, port: int = 0, status: int = 200, headers: dict | None = None):
        received = self.received = []
        self.secret = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "v1=" + hmac.new(
                    outer.secret.encode(), self.headers["X-Shirube-Timestamp"].encode() + b"." + body,
                    hashlib.sha256,
                ).hexdigest()  # fmt: skip
                received.append({"path": self.path, "body": json.loads(body), "headers": dict(self.headers),
                                 "valid": hmac.compare_digest(expected, self.headers["X-Shirube-Signature"])})  # fmt: skip
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback(settings):
    settings.SHIRUBE_WEBHOOK_ALLOW_LOOPBACK = True


@pytest.fixture
def receiver(loopback):
    r = Receiver()
    yield r
    r.close()


def _endpoint(team, url, user=None) -> WebhookEndpoint:
    return services.webhook_endpoint_create(by=user, team=team, url=url, kinds=["approval.requested"])


def _event(team) -> Delivery:
    services.notification_enqueue(kind="approval.requested", title="v2.15.0 needs an approval", team=team,
                                  link="/teams/payments/environments/")  # fmt: skip
    return Delivery.objects.get(channel="webhook")


@pytest.mark.django_db
@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/", "https://[::ffff:169.254.169.254]/",
    "https://10.0.0.8/hook", "https://192.168.1.1/", "https://127.0.0.1/", "https://localhost/hook",
    "https://[::1]/", "https://0.0.0.0/", "https://100.64.0.1/", "https://user:pw@example.com/",
    "http://example.com/", "ftp://example.com/", "https://[fe80::1]/",
])  # fmt: skip
def test_private_loopback_and_metadata_addresses_are_refused_at_registration(url, teams):
    with pytest.raises(UnsafeEndpoint):
        _endpoint(teams["payments"], url)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_delivery_is_signed_and_its_answer_kept(teams, receiver):
    endpoint = _endpoint(teams["payments"], f"http://127.0.0.1:{receiver.port}/hooks?x=1")
    receiver.secret = endpoint.secret
    delivery = _event(teams["payments"])
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (
        delivery.status == "sent"
        and delivery.result["status"] == 200
        and delivery.result["answer"] == "thanks"
    )
    [got] = receiver.received
    assert got["valid"] and got["path"] == "/hooks?x=1"
    assert got["body"]["kind"] == "approval.requested" and got["body"]["team"] == "payments"
    assert got["headers"]["X-Shirube-Event"] == "approval.requested"


@pytest.mark.django_db
def test_an_endpoint_that_became_unsafe_is_refused_at_delivery(teams, receiver, settings):
    endpoint = _endpoint(teams["payments"], f"https://127.0.0.1:{receiver.port}/")
    # Loopback no longer allowed (as in production), and a row written before the checks.
    settings.SHIRUBE_WEBHOOK_ALLOW_LOOPBACK = False
    metadata = WebhookEndpoint.objects.create(team=teams["payments"], url="https://169.254.169.254/latest/",
                                              kinds=["approval.requested"], secret="s")  # fmt: skip
    services.notification_enqueue(kind="approval.requested", title="t", team=teams["payments"])
    for delivery in Delivery.objects.filter(channel="webhook"):
        services.delivery_attempt(delivery_id=delivery.pk)
    by_address = {d.address: d for d in Delivery.objects.filter(channel="webhook")}
    assert by_address[str(endpoint.pk)].status == "failed"
    assert "not a public address" in by_address[str(endpoint.pk)].last_error
    assert by_address[str(metadata.pk)].status == "failed"
    assert "link-local" in by_address[str(metadata.pk)].last_error
    assert receiver.received == []


@pytest.mark.django_db
def test_redirects_are_not_followed(teams, loopback):
    target = Receiver()
    redirecting = Receiver(status=302, headers={"Location": f"http://127.0.0.1:{target.port}/"})
    try:
        _endpoint(teams["payments"], f"http://127.0.0.1:{redirecting.port}/")
        delivery = _event(teams["payments"])
        services.delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "failed" and "redirects are not followed" in delivery.last_error
        assert len(redirecting.received) == 1 and target.received == []
    finally:
        target.close()
        redirecting.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_a_receiver_down_for_a_while_gets_every_delivery_once_it_is_back(teams, loopback, monkeypatch):
    port = _free_port()
    endpoint = _endpoint(teams["payments"], f"http://127.0.0.1:{port}/")
    for n in range(3):
        services.notification_enqueue(kind="approval.requested", title=f"request {n}", team=teams["payments"])
    ids = list(Delivery.objects.filter(channel="webhook").values_list("pk", flat=True))
    for pk in ids:  # down: each is retried later, none lost
        assert services.delivery_attempt(delivery_id=pk) > 0
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
    receiver = Receiver(port=port)
    receiver.secret = endpoint.secret
    try:
        later = timezone.now() + timedelta(minutes=5)
        monkeypatch.setattr(timezone, "now", lambda: later)
        for pk in ids:
            services.delivery_attempt(delivery_id=pk)
            services.delivery_attempt(delivery_id=pk)  # a duplicate task finds it done
    finally:
        receiver.close()
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}
    assert sorted(r["body"]["title"] for r in receiver.received) == ["request 0", "request 1", "request 2"]
    assert all(r["valid"] for r in receiver.received)


@pytest.mark.django_db
def test_only_kinds_asked_for_reach_an_endpoint(teams, receiver):
    _endpoint(teams["payments"], f"http://127.0.0.1:{receiver.port}/")
    services.notification_enqueue(kind="flux.health", title="t", team=teams["payments"])
    services.notification_enqueue(kind="approval.requested", title="t", team=teams["search"])
    assert not Delivery.objects.filter(channel="webhook").exists()


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 that no authority signed."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return tmp_path / "cert.pem", tmp_path / "key.pem"


@pytest.mark.django_db
def test_https_endpoints_must_show_a_certificate_we_trust(teams, receiver, tmp_path):
    """The connection to the checked address still verifies TLS for the name in the URL."""
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    _endpoint(teams["payments"], f"https://127.0.0.1:{receiver.port}/")
    delivery = _event(teams["payments"])
    assert services.delivery_attempt(delivery_id=delivery.pk) > 0  # tried again later, not sent
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "SSLCertVerificationError" in delivery.last_error
    assert receiver.received == []

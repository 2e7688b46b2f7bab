"""Outbound webhooks: the outbox's third channel, guarded against server-side request forgery.

The worker that sends them holds cluster and git credentials, so an endpoint may not point
inside: its host is resolved, every address must be public (never private, loopback,
link-local such as the cloud metadata address 169.254.169.254, multicast or reserved), and
the connection goes to the address that was checked (a second lookup could answer
otherwise: DNS rebinding), with TLS verified for the name. No redirects, 10 s in all.
SHIRUBE_WEBHOOK_ALLOW_LOOPBACK lets the tests use a receiver on loopback (plain http there).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from apps.notifications.channels import Permanent, Transient
from apps.notifications.models import Delivery, WebhookEndpoint

# What a team may subscribe an endpoint to.
WEBHOOK_KINDS = ("deployment.finished", "approval.requested", "flux.health")
TIMEOUT_SECONDS = 10
ANSWER_KEPT = 300  # characters of the receiver's answer shown on the page


class UnsafeEndpoint(ValueError):
    """The URL may not be used: the message says why (shown when registering, stored at delivery)."""


def _address_problem(address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback and settings.SHIRUBE_WEBHOOK_ALLOW_LOOPBACK:
        return None
    if ip.is_link_local:
        return f"{ip} is link-local (cloud metadata lives there)"
    if ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not a public address"
    if not ip.is_global:  # shared address space (100.64/10), documentation ranges, ...
        return f"{ip} is not a public address"
    return None


def endpoint_resolve(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, checked address) for a URL that may be called; raises UnsafeEndpoint."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeEndpoint("That is not a URL.") from None
    host = parts.hostname or ""
    if parts.username or parts.password:
        raise UnsafeEndpoint("No credentials in the URL: deliveries are signed instead.")
    if not host:
        raise UnsafeEndpoint("The URL needs a host.")
    loopback_ok = settings.SHIRUBE_WEBHOOK_ALLOW_LOOPBACK
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_ok):
        raise UnsafeEndpoint("Endpoints must use https.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeEndpoint(f"{host} does not resolve.") from None
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        if problem := _address_problem(address):
            raise UnsafeEndpoint(f"{host} resolves to {problem}: refused.")
    if parts.scheme == "http" and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise UnsafeEndpoint("Plain http is allowed only on loopback, for tests.")
    return parts.scheme, host, port, addresses[0]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + HMAC-SHA256 over `<timestamp>.<body>` (the timestamp lets receivers refuse replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address, verifying the certificate for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _connection(scheme: str, host: str, port: int, address: str):
    if scheme == "https":
        return _PinnedHTTPSConnection(host, address, port, TIMEOUT_SECONDS)
    return http.client.HTTPConnection(address, port, timeout=TIMEOUT_SECONDS)


def webhook_body(delivery: Delivery) -> bytes:
    n = delivery.notification
    base = settings.SHIRUBE_SITE_URL.rstrip("/")
    payload = {
        "id": n.pk, "delivery": delivery.pk, "kind": n.kind, "team": n.team.slug if n.team else None,
        "title": n.title, "text": n.text, "lines": n.lines, "link": base + n.link if n.link else "",
        "created_at": n.created_at.isoformat(),
    }  # fmt: skip
    return json.dumps(payload, separators=(",", ":")).encode()


class WebhookChannel:
    name = "webhook"

    def enabled(self) -> bool:
        return True

    def send(self, delivery: Delivery) -> dict:
        endpoint = WebhookEndpoint.objects.filter(pk=delivery.address, active=True).first()
        if endpoint is None:
            raise Permanent("The endpoint was removed or turned off.")
        try:  # checked again at each delivery: DNS can change after registration
            scheme, host, port, address = endpoint_resolve(endpoint.url)
        except UnsafeEndpoint as exc:
            raise Permanent(str(exc)) from None
        parts = urlsplit(endpoint.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = webhook_body(delivery)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json", "User-Agent": "Shirube-Webhook/1", "Host": parts.netloc,
            "X-Shirube-Event": delivery.notification.kind, "X-Shirube-Delivery": str(delivery.pk),
            "X-Shirube-Timestamp": timestamp,
            "X-Shirube-Signature": signature(endpoint.secret, timestamp, body),
        }  # fmt: skip
        started = time.monotonic()
        connection = _connection(scheme, host, port, address)
        try:
            connection.request("POST", path, body=body, headers=headers)
            connection.sock.settimeout(max(0.1, TIMEOUT_SECONDS - (time.monotonic() - started)))
            response = connection.getresponse()
            answer = response.read(ANSWER_KEPT * 4).decode("utf-8", "replace")[:ANSWER_KEPT]
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(f"The endpoint could not be reached: {type(exc).__name__}") from None
        finally:
            connection.close()
        result = {"status": response.status, "answer": answer, "at": timezone.now().isoformat()}
        if 200 <= response.status < 300:
            return result
        if 300 <= response.status < 400:
            raise Permanent(f"The endpoint answered {response.status}: redirects are not followed.")
        if response.status in (408, 429) or response.status >= 500:
            retry = response.getheader("Retry-After")
            raise Transient(f"The endpoint answered {response.status}: {answer[:100]}",
                            retry_after=float(retry) if retry and retry.isdigit() else None)  # fmt: skip
        raise Permanent(f"The endpoint answered {response.status}: {answer[:100]}")

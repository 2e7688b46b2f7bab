"""A real SMTP server (aiosmtpd) on loopback for the tests: what it received is read back."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import Message

from aiosmtpd.controller import Controller

from tests.harness.servers import free_port


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.server.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.server.received:
            self.server.messages.append((list(envelope.rcpt_tos), message))
            self.server.received.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: set[str] = set()  # addresses answered 550
        self.received = threading.Condition()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        with self.received:
            self.messages.clear()
        self.refuse.clear()

    def to(self, address: str) -> list[Message]:
        return [m for rcpts, m in self.messages if address in rcpts]

    def wait_for(self, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        with self.received:
            while not (value := predicate()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the SMTP server did not receive what was expected in time")
                self.received.wait(min(left, 0.2))
        return value

"""audit_record keeps a record whatever it is given."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_hostile_values_are_stored_printable_and_bounded():
    assert connection.vendor == "postgresql"  # which refuses NUL in text and \u0000 in jsonb
    event = audit_record(
        actor=UserFactory(username="mallory"), team=None, action="flux." + "\x00" * 100, outcome="refused\x00",
        target="t\x00" * 500, parameters={"reason": "r\x00" * 1000, "nested": ["\x1b", {"k\x00": "v\x00"}]},
        message="m\x00" * 5000, correlation="c\x00" * 50,
    )  # fmt: skip
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.action.startswith("flux.\\x00") and len(event.action) <= 50
    assert event.outcome == "refused\\x00"[:20]
    assert len(event.target) <= 300 and len(event.message) <= 2000 and len(event.correlation) <= 40
    assert event.parameters["reason"].startswith("r\\x00r\\x00") and len(event.parameters["reason"]) <= 500
    assert event.parameters["nested"] == ["\\x1b", {"k\\x00": "v\\x00"}]
    assert "\x00" not in event.message


def test_ordinary_values_are_kept_as_given():
    event = audit_record(actor=None, team=None, action="flux.suspend", outcome="requested",
                         target="demo/payments/Kustomization/apps", parameters={"reason": "INC-42\nrollback"},
                         message="ok")  # fmt: skip
    event.refresh_from_db()
    assert event.actor_name == "system" and event.parameters == {"reason": "INC-42\nrollback"}

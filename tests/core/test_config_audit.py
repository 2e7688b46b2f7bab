"""The configuration audit hook: what it reads, what it reports, and when it stays silent."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.core.config_audit import config_audited, config_change_record, config_snapshot
from apps.lessons.models import Lesson
from tests.factories import LessonFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_user_snapshot_reads_roles_never_the_password():
    user = UserFactory(username="dana")
    snapshot = config_snapshot(user)
    assert set(snapshot) == {"is_active", "is_staff", "is_superuser", "groups", "user_permissions"}
    assert user.password not in str(snapshot)


def test_every_model_that_decides_who_may_do_what_is_registered():
    from django.apps import apps

    for label in ["accounts.Team", "accounts.Membership", "auth.User", "auth.Group", "clusters.Cluster",
                  "clusters.TeamNamespace", "environments.Environment", "readiness.Waiver"]:  # fmt: skip
        assert config_audited(apps.get_model(label)) is not None, label


def test_models_that_are_not_configuration_are_not_reported():
    lesson = LessonFactory()
    config_change_record(by=None, instance=lesson, verb="changed", before={"title": "old"})
    assert config_audited(Lesson) is None and not AuditEvent.objects.exists()


def test_a_change_names_what_changed_from_what_to_what():
    membership = MembershipFactory(role="member")
    before = config_snapshot(membership)
    membership.role = "lead"
    membership.save()
    config_change_record(by=None, instance=membership, verb="changed", before=before)
    event = AuditEvent.objects.get()
    assert (
        event.parameters == {"changes": {"role": ["member", "lead"]}}
        and event.message == "role: member → lead"
    )

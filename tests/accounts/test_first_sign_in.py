"""The first sign-in is recorded once (Django keeps only the last), and older accounts are backfilled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.accounts.models import FirstSignIn
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _sign_in(client, username):
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_the_first_password_sign_in_is_recorded_and_later_ones_change_nothing(client):
    alice = UserFactory(username="alice")
    assert not FirstSignIn.objects.filter(user=alice).exists()
    before = timezone.now()
    _sign_in(client, "alice")
    first = FirstSignIn.objects.get(user=alice)
    assert before <= first.at <= timezone.now() and not first.backfilled
    client.logout()
    _sign_in(client, "alice")
    assert FirstSignIn.objects.get(user=alice).at == first.at
    alice.refresh_from_db()
    assert alice.last_login > first.at  # Django moves last_login; the first stays


def test_force_login_is_a_sign_in_too():
    # user_logged_in is the one place every way of signing in passes (password, identity provider).
    from django.test import Client

    bob = UserFactory(username="bob")
    Client().force_login(bob)
    assert FirstSignIn.objects.filter(user=bob).exists()


def test_the_migration_backfills_from_date_joined_for_people_who_signed_in_only():
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0003_team_slack_channel")])
    now = timezone.now()
    signed_in = UserFactory(username="old-timer", date_joined=now - timedelta(days=90),
                            last_login=now - timedelta(days=1))  # fmt: skip
    never = UserFactory(username="never", date_joined=now - timedelta(days=10), last_login=None)
    executor.loader.build_graph()
    executor.migrate([("accounts", "0004_first_sign_in")])
    first = FirstSignIn.objects.get(user_id=signed_in.pk)
    assert first.at == now - timedelta(days=90) and first.backfilled
    assert not FirstSignIn.objects.filter(user_id=never.pk).exists()

"""Password sign-in: off with OIDC (break-glass aside), the throttle, and no user enumeration."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from apps.accounts.signin import client_address
from apps.audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

WRONG = "did not match"
LOCKED = "Too many failed sign-ins"


class CountingHasher(MD5PasswordHasher):
    """Counts every password hash computed, to show each answer costs one."""

    algorithm = "counting-md5"
    computed = 0

    def encode(self, password, salt):
        CountingHasher.computed += 1
        return super().encode(password, salt).replace("md5$", "counting-md5$", 1)

    def verify(self, password, encoded):
        return self.encode(password, encoded.split("$")[1]) == encoded


def post(client, username, password, address="192.0.2.10", path="/accounts/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def oidc_on(settings):
    settings.SHIRUBE_OIDC_ISSUER = "https://idp.example.com/realms/acme"
    settings.SHIRUBE_LOCAL_LOGIN = False


def test_without_oidc_the_password_form_signs_in_and_the_session_ends_after_the_set_hours(client, settings):
    settings.SHIRUBE_SESSION_HOURS = 8
    UserFactory(username="alice")
    response = post(client, "alice", PASSWORD)
    assert response.status_code == 302 and signed_in(client)
    expiry = client.session.get_expiry_date()
    assert abs(expiry - (timezone.now() + timedelta(hours=8))) < timedelta(minutes=1)
    # Activity does not push it back: the end is a date, not an idle time.
    client.get("/learn/")
    assert client.session.get_expiry_date() == expiry


def test_with_oidc_the_form_is_gone_and_its_post_refused(client, oidc_on):
    UserFactory(username="alice")
    page = client.get("/accounts/login/").content.decode()
    assert 'name="password"' not in page and "Sign in with your company account" in page
    response = post(client, "alice", PASSWORD)
    assert response.status_code == 403 and "Password sign-in is turned off" in response.content.decode()
    assert not signed_in(client)


def test_the_password_backend_refuses_everyone_but_break_glass_users_when_local_sign_in_is_off(oidc_on):
    from django.contrib.auth import authenticate

    UserFactory(username="alice")
    assert authenticate(RequestFactory().post("/"), username="alice", password=PASSWORD) is None


def test_the_admins_own_login_form_is_not_a_way_round(client, oidc_on):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/"
    UserFactory(username="alice", is_staff=True)
    client.post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD})
    assert not signed_in(client)


def test_break_glass_users_sign_in_with_a_password_on_their_own_page(client, oidc_on, settings):
    settings.SHIRUBE_BREAK_GLASS_USERS = frozenset({"admin"})
    UserFactory(username="admin")
    UserFactory(username="alice")
    page = client.get("/accounts/login/break-glass/").content.decode()
    assert 'name="password"' in page
    # Anyone else gets the answer a wrong password gets: the page tells no names.
    response = post(client, "alice", PASSWORD, path="/accounts/login/break-glass/")
    assert response.status_code == 200 and WRONG in response.content.decode() and not signed_in(client)
    assert post(client, "admin", PASSWORD, path="/accounts/login/break-glass/").status_code == 302
    assert signed_in(client)


def test_the_break_glass_page_does_not_exist_without_break_glass_users(client, oidc_on):
    assert client.get("/accounts/login/break-glass/").status_code == 404


def test_twenty_wrong_passwords_lock_the_account_and_the_right_one_fails_until_the_lock_ends(
    client, settings
):
    settings.SHIRUBE_LOGIN_LOCKOUT = 3
    UserFactory(username="alice")
    answers = [post(client, "alice", f"guess-{n}") for n in range(20)]
    assert [r.status_code for r in answers[:9]] == [200] * 9
    assert all(r.status_code == 429 and LOCKED in r.content.decode() for r in answers[9:])
    right = post(client, "alice", PASSWORD)
    assert right.status_code == 429 and LOCKED in right.content.decode() and not signed_in(client)
    # From another address too: the lock is the user name's.
    assert post(client, "alice", PASSWORD, address="198.51.100.7").status_code == 429
    events = AuditEvent.objects.filter(action="sign_in.locked")
    assert [(e.target, e.parameters["by"]) for e in events] == [("alice", "user")]  # once, not per try
    time.sleep(3.1)
    assert post(client, "alice", PASSWORD).status_code == 302 and signed_in(client)


def test_a_name_that_does_not_exist_gets_the_same_answers(client, settings):
    settings.SHIRUBE_LOGIN_LOCKOUT = 60
    UserFactory(username="alice")
    for name in ("alice", "nobody-by-this-name"):
        answers = [post(client, name, f"guess-{n}") for n in range(11)]
        assert [r.status_code for r in answers] == [200] * 9 + [429] * 2
        assert WRONG in answers[0].content.decode() and LOCKED in answers[-1].content.decode()


def test_every_answer_computes_one_password_hash(client, settings, oidc_on):
    """No name can be told by timing: existing or not, allowed or not, locked or not."""
    settings.PASSWORD_HASHERS = ["tests.accounts.test_sign_in.CountingHasher"]
    settings.SHIRUBE_BREAK_GLASS_USERS = frozenset({"admin"})
    UserFactory(username="admin")
    UserFactory(username="alice")
    settings.SHIRUBE_LOGIN_FAILURES_PER_USER = 2
    for name in ("admin", "alice", "nobody"):
        for _ in range(3):  # wrong, wrong (locks), locked
            before = CountingHasher.computed
            post(client, name, "wrong", path="/accounts/login/break-glass/")
            assert CountingHasher.computed == before + 1, name


def test_many_failures_from_one_address_lock_that_address(client, settings):
    settings.SHIRUBE_LOGIN_FAILURES_PER_ADDRESS = 5
    UserFactory(username="alice")
    for n in range(5):
        post(client, f"someone-{n}", "guess", address="203.0.113.5")
    assert post(client, "alice", PASSWORD, address="203.0.113.5").status_code == 429
    assert post(client, "alice", PASSWORD, address="203.0.113.6").status_code == 302
    assert AuditEvent.objects.filter(action="sign_in.locked", target="203.0.113.5").exists()


def test_nobody_elsewhere_can_lock_the_break_glass_user_out(client, settings, oidc_on):
    settings.SHIRUBE_BREAK_GLASS_USERS = frozenset({"admin"})
    UserFactory(username="admin")
    for n in range(25):
        post(client, "admin", f"guess-{n}", address="203.0.113.66", path="/accounts/login/break-glass/")
    assert (
        post(
            client, "admin", PASSWORD, address="203.0.113.66", path="/accounts/login/break-glass/"
        ).status_code
        == 429
    )
    assert (
        post(client, "admin", PASSWORD, address="192.0.2.1", path="/accounts/login/break-glass/").status_code
        == 302
    )


def test_unlock_sign_in_lifts_a_lock(client, settings):
    UserFactory(username="alice")
    for n in range(10):
        post(client, "alice", f"guess-{n}")
    assert post(client, "alice", PASSWORD).status_code == 429
    call_command("unlock_sign_in", "--username", "alice")
    assert post(client, "alice", PASSWORD).status_code == 302


def test_overlong_or_control_character_input_is_refused_and_not_counted(client):
    UserFactory(username="alice")
    assert post(client, "alice\x00", PASSWORD).status_code == 400
    assert post(client, "alice", "x" * 5000).status_code == 400
    assert post(client, "alice", PASSWORD).status_code == 302


def test_a_next_address_elsewhere_is_not_followed(client):
    UserFactory(username="alice")
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "https://evil.example.com/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy: the header is the client's to forge
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the forged first entry is skipped
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "192.0.2.1"),  # fewer entries than proxies: the connection's
        (1, "not-an-address", "unknown"),
    ],
)
def test_the_client_address_trusts_only_our_own_proxies(settings, hops, forwarded, expected):
    settings.SHIRUBE_PROXY_COUNT = hops
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected

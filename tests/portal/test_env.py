from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str, parse_database_url


def test_strings_come_from_the_variable_or_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    assert env_str("SECRET_KEY", environ={"SECRET_KEY": "plain"}) == "plain"
    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "from-file"
    assert env_str("SECRET_KEY", "default", environ={}) == "default"


def test_both_the_variable_and_its_file_is_an_error(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_str("X", environ={"X": "a", "X_FILE": "/nope"})


def test_an_unreadable_file_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_str("X", environ={"X_FILE": "/does/not/exist"})


def test_a_missing_required_value_is_an_error():
    with pytest.raises(ImproperlyConfigured, match="must be set"):
        env_str("X", environ={})


@pytest.mark.parametrize("raw,value", [("true", True), ("1", True), ("off", False), ("", False)])
def test_booleans(raw, value):
    assert env_bool("DEBUG", not value, environ={"DEBUG": raw}) is value


@pytest.mark.parametrize("raw", ["yes please", "2", "treu"])
def test_a_malformed_boolean_is_an_error(raw):
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": raw})


def test_integers_are_strict():
    assert env_int("N", 5, environ={"N": "7"}) == 7
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("N", 5, environ={"N": "7s"})
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 5, minimum=1, environ={"N": "0"})


def test_lists():
    assert env_list("H", "", environ={"H": "a.example, b.example,,"}) == ["a.example", "b.example"]


def test_sqlite_urls_get_wal_busy_timeout_and_immediate_transactions(tmp_path):
    config = parse_database_url("sqlite:///var/db.sqlite3", base_dir=tmp_path)
    assert config["NAME"] == str(tmp_path / "var/db.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["timeout"] >= 5
    absolute = parse_database_url("sqlite:////srv/shirube.db", base_dir=tmp_path)
    assert absolute["NAME"] == "/srv/shirube.db"


def test_postgres_urls():
    config = parse_database_url("postgres://app:p%40ss@db.internal:5433/shirube", base_dir=Path("."))
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "app", "p@ss", "db.internal", "5433", "shirube",
    )  # fmt: skip
    socket = parse_database_url("postgresql://app@/shirube?host=/run/postgresql", base_dir=Path("."))
    assert socket["HOST"] == "/run/postgresql"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://", "postgres://h:port/db"])
def test_bad_database_urls_are_errors(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url, base_dir=Path("."))


def test_a_group_map_reads_teams_roles_and_sre_and_keeps_commas_in_group_names():
    from portal.env import env_group_map

    raw = "/eng/payments=payments:member; CN=Leads,OU=Eng=payments:lead\nplatform-sre=sre\n"
    assert env_group_map("M", environ={"M": raw}) == [
        ("/eng/payments", "member", "payments"),
        ("CN=Leads,OU=Eng", "lead", "payments"),
        ("platform-sre", "sre", ""),
    ]
    assert env_group_map("M", environ={}) == []


@pytest.mark.parametrize(
    "raw", ["devs", "devs=payments", "devs=payments:owner", "devs=Pay Ments:member", "=sre"]
)
def test_a_malformed_group_map_names_the_variable_and_the_entry(raw):
    from portal.env import env_group_map

    with pytest.raises(ImproperlyConfigured, match="M: entry 1"):
        env_group_map("M", environ={"M": raw})


@pytest.mark.parametrize(
    "raw,ok",
    [
        ("https://idp.example.com/realms/acme", True),
        ("http://127.0.0.1:8080/realms/x", True),
        ("http://idp.example.com/realms/acme", False),  # tokens over plain HTTP: refused
        ("https://idp.example.com/x?y=1", False),
        ("ftp://idp.example.com", False),
    ],
)
def test_an_issuer_must_be_https_except_on_loopback(raw, ok):
    from portal.env import env_url

    if ok:
        assert env_url("I", environ={"I": raw}) == raw
    else:
        with pytest.raises(ImproperlyConfigured, match="I="):
            env_url("I", environ={"I": raw})

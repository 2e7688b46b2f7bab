import pytest
from django.db import connection
from django.db.utils import OperationalError


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_fails(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db(transaction=True)
def test_readyz_does_not_tell_anyone_where_the_database_is(client, caplog):
    """A real connection failure (the harness's PostgreSQL, asked on a port nobody listens on)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    body = response.content.decode()
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert "127.0.0.1" not in body and str(closed_port) not in body and "connection" not in body.lower()
    assert str(closed_port) in caplog.text  # the detail is for whoever reads the log

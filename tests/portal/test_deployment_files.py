"""docker compose cannot run here, so its file is checked by parsing it."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_web_worker_beat_redis_and_postgres_with_health_checks():
    services = compose()["services"]
    assert set(services) == {"web", "worker", "beat", "redis", "postgres"}
    for name, service in services.items():
        assert "test" in service["healthcheck"], name
        assert service.get("restart") == "unless-stopped", name


def test_the_portal_services_wait_for_healthy_databases_and_use_them():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        service = services[name]
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["DEBUG"] == "false"
    assert "gunicorn portal.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"].startswith("celery -A portal worker")
    assert services["beat"]["command"].startswith("celery -A portal beat")


def test_redis_is_pinned_to_7_2_and_data_lives_in_volumes():
    data = compose()
    assert data["services"]["redis"]["image"].startswith("redis:7.2")
    assert "postgres-data:/var/lib/postgresql/data" in data["services"]["postgres"]["volumes"]
    assert "redis-data:/data" in data["services"]["redis"]["volumes"]
    assert {"postgres-data", "redis-data"} <= set(data["volumes"])


def test_every_setting_compose_sets_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    env = compose()["services"]["web"]["environment"]
    for name in env:
        assert f"`{name}`" in readme, name


def test_the_dockerfile_runs_gunicorn_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "USER shirube" in dockerfile and "gunicorn" in dockerfile


def test_dependencies_are_pinned_and_django_is_the_lts():
    lines = [
        line for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert all("==" in line for line in lines), lines
    django = next(line for line in lines if line.lower().startswith("django=="))
    assert django.split("==")[1].startswith("5.2.")


def test_no_template_or_static_file_loads_from_a_cdn():
    for path in list((ROOT / "templates").rglob("*.html")) + list((ROOT / "apps").rglob("*.html")):
        text = path.read_text()
        assert '<script src="http' not in text and '<link rel="stylesheet" href="http' not in text, path

"""docker compose cannot run here, so its file is checked by parsing it."""

import importlib
import json
import re
from pathlib import Path

import yaml
from django.urls import resolve

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


def test_every_image_is_pinned_and_the_readme_names_the_redis_compose_runs():
    services = compose()["services"]
    for name, service in services.items():
        if "build" in service:
            continue  # ours: built from this repository
        image, _, tag = service["image"].partition(":")
        assert tag and tag != "latest", f"{name}: {service['image']} is not pinned to a version"
    # Redis is held back on purpose (later releases changed licence): the README must say which.
    redis_version = re.match(r"\d+\.\d+", services["redis"]["image"].partition(":")[2])
    assert redis_version, services["redis"]["image"]
    readme = (ROOT / "README.md").read_text()
    assert f"Redis {redis_version.group()}" in readme, "the README names another Redis than compose runs"


# Where each official image keeps its data (PGDATA's default; the redis image's WORKDIR and dir).
DATA_DIRS = {"postgres": "/var/lib/postgresql/data", "redis": "/data"}


def test_databases_keep_their_data_in_declared_named_volumes():
    data = compose()
    declared = set(data.get("volumes") or {})
    for name, service in data["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts {source}, which compose does not declare"
    for name, path in DATA_DIRS.items():
        named = [m for m in data["services"][name]["volumes"] if m.split(":")[1:2] == [path]]
        assert named and not named[0].startswith((".", "/")), f"{name} would lose its data with the container"


def test_every_setting_compose_sets_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    env = compose()["services"]["web"]["environment"]
    for name in env:
        assert f"`{name}`" in readme, name


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_image_runs_the_wsgi_application_as_a_user_it_creates():
    steps = dockerfile()
    cmd = json.loads(next(args for op, args in reversed(steps) if op == "CMD"))
    assert cmd[0] == "gunicorn"
    module, _, attribute = cmd[1].partition(":")
    assert callable(getattr(importlib.import_module(module), attribute)), cmd[1]
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server would run as root"
    created = [args for op, args in steps if op == "RUN" and "useradd" in args]
    assert any(re.search(rf"\buseradd\b.*\b{users[-1]}\b", args) for args in created), users[-1]
    healthcheck = next(args for op, args in steps if op == "HEALTHCHECK")
    path = re.search(r"127\.0\.0\.1:8000(/[\w/-]*)", healthcheck).group(1)
    resolve(path)  # Resolver404 if the health check asks for a page the site does not have


def test_the_image_installs_the_pinned_runtime_set_from_files_that_exist():
    steps = dockerfile()
    python = re.match(r"python:(\d+\.\d+)", next(args for op, args in steps if op == "FROM"))
    requires = re.search(r'requires-python = ">=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text())
    assert python and requires and python.group(1) == requires.group(1), "the image's Python is not ours"
    installs = [args for op, args in steps if op == "RUN" and "pip install" in args]
    assert installs and all("-r requirements.txt" in args for args in installs)
    assert not any("requirements-dev" in args for args in installs), "test tools in the production image"
    for op, args in steps:
        if op in ("COPY", "ADD") and "--from=" not in args:
            *sources, _ = [word for word in args.split() if not word.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"{op} {source}: no such file in the repository"


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

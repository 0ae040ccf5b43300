"""Production settings: `check --deploy` passes with the environment docker-compose gives, and PRODUCTION
without a SECRET_KEY refuses to start. Run in subprocesses: settings are read once per process."""
import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env_overrides: dict[str, str], drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
    env = {key: value for key, value in os.environ.items() if key not in (*drop, "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def production_env() -> dict[str, str]:
    # 50 random characters from a wide alphabet: what check --deploy (security.W009) considers strong.
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return {
        "PRODUCTION": "1",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(50)),
        "ALLOWED_HOSTS": "shop.example.com",
        "DEBUG": "0",
    }


def test_check_deploy_passes_with_production_environment():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_without_secret_key_refuses_to_start():
    env = production_env()
    del env["SECRET_KEY"]
    result = run_manage("check", env_overrides=env, drop=("SECRET_KEY",))
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr

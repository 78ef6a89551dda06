"""Production settings: strict values switch on with DJANGO_ENV=production."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ENV", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env_extra={"DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-for-the-check-1234567890"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", env_extra={"DJANGO_ENV": "production"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_turns_debug_off_and_cookies_secure():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ENV"}
    env.update({"DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "k" * 60, "DJANGO_SETTINGS_MODULE": "governance.settings"})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "True", "True", "True"], result.stderr


def test_production_session_and_proxy_settings():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.GOVERNANCE_SESSION_IDLE_MINUTES, s.GOVERNANCE_TOKEN_DEFAULT_DAYS, "
        "s.ALLAUTH_TRUSTED_PROXY_COUNT, s.ALLAUTH_TRUSTED_CLIENT_IP_HEADER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GOVERNANCE_"))}
    env.update({"DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "k" * 60, "DJANGO_SETTINGS_MODULE": "governance.settings"})
    run = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60
    )
    result = run({})
    assert result.stdout.split() == ["30", "90", "0", "None"], result.stderr
    # One reverse proxy in front: allauth's rate limits count the client it names, not the proxy.
    result = run({"GOVERNANCE_TRUSTED_PROXIES": "1", "GOVERNANCE_SESSION_IDLE_MINUTES": "15"})
    assert result.stdout.split() == ["15", "90", "1", "None"], result.stderr
    result = run({"GOVERNANCE_TRUSTED_CLIENT_IP_HEADER": "X-Real-IP"})
    assert result.stdout.split()[-1] == "X-Real-IP", result.stderr


def test_signing_asks_for_the_one_time_code_in_production_only():
    code = "import django; django.setup(); from django.conf import settings as s; print(s.GOVERNANCE_SIGNING_REQUIRES_MFA)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GOVERNANCE_"))}
    env.update({"DJANGO_SECRET_KEY": "k" * 60, "DJANGO_SETTINGS_MODULE": "governance.settings"})
    run = lambda extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60
    )
    assert run({"DJANGO_ENV": "production"}).stdout.split() == ["True"]
    assert run({"DJANGO_ENV": "development"}).stdout.split() == ["False"]
    assert run({"DJANGO_ENV": "development", "GOVERNANCE_SIGNING_REQUIRES_MFA": "true"}).stdout.split() == ["True"]

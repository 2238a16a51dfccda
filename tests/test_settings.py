"""Production settings refuse to start without their secrets; local ones run with nothing set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "SECRET_KEY": "s" * 50,
    "FIELD_ENCRYPTION_KEYS": "bG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1hLXNlY3I=",
    "BLIND_INDEX_KEY": "b" * 32,
    "ALLOWED_HOSTS": "registry.example.org",
    "DATABASE_URL": "postgres://registry@db.example.org/registry",
    "CELERY_BROKER_URL": "redis://cache.example.org:6379/0",
    "CACHE_URL": "redis://cache.example.org:6379/1",
    "EMAIL_URL": "smtp+tls://mailer:pw@mail.example.org:587",
    "HOUSE_SITE_URL": "https://registry.example.org",
}


def load_settings(module, environment):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(environment, DJANGO_SETTINGS_MODULE=module)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_start_with_every_variable_set():
    result = load_settings("concerthouse.settings.production", PRODUCTION)
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize("missing", sorted(PRODUCTION))
def test_production_settings_refuse_to_start_without_a_variable(missing):
    environment = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = load_settings("concerthouse.settings.production", environment)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr


@pytest.mark.parametrize("empty", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"])
def test_production_settings_refuse_an_empty_secret(empty):
    result = load_settings("concerthouse.settings.production", {**PRODUCTION, empty: ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_production_settings_refuse_links_without_https():
    # RFC 8058 one-click unsubscribe needs an https URL in every marketing email.
    environment = {**PRODUCTION, "HOUSE_SITE_URL": "http://registry.example.org"}
    result = load_settings("concerthouse.settings.production", environment)
    assert result.returncode != 0
    assert "HOUSE_SITE_URL must start with https://" in result.stderr


def test_local_settings_run_with_nothing_set():
    result = load_settings("concerthouse.settings.local", {})
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_runs_this_application_s_queries_without_jit_compilation():
    """JIT would spend seconds compiling queries with subqueries that run in milliseconds."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a server database with concurrent connections (PostgreSQL)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)

"""Configuration layering (SPEC §8): env over {APP_ENV}.toml over default.toml over the packaged
defaults; secrets from *_FILE; production refuses insecure settings with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auth_service.infrastructure.settings import ConfigurationError, load_settings

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql+asyncpg://auth@db/auth",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": "s" * 40,
    "MAIL_BACKEND": "smtp",
    "PUBLIC_BASE_URL": "https://auth.example.com",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [*PRODUCTION, "CONFIG_DIR", "LOG_LEVEL", "TRUSTED_PROXIES", "SECRET_KEY_FILE",
                 "ACCESS_TOKEN_TTL", "RATE_LIMIT_ENABLED", "SMTP_USERNAME", "FRONTEND_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONFIG_DIR", str(tmp_path))


def test_the_packaged_defaults_need_no_configuration_at_all() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite+aiosqlite:///./var/auth.db"
    assert settings.access_token_ttl == 900 and settings.server_port == 3000
    assert settings.issuer == "http://localhost:3000" and settings.frontend_base == "http://localhost:3000"


def test_environment_overrides_the_env_file_which_overrides_default_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "default.toml").write_text('access_token_ttl = 600\nlog_level = "warning"\nserver_port = 4000\n')
    (tmp_path / "test.toml").write_text("access_token_ttl = 300\nserver_port = 5000\n")
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("ACCESS_TOKEN_TTL", "120")

    settings = load_settings()

    assert (settings.access_token_ttl, settings.server_port, settings.log_level) == (120, 5000, "warning")


def test_comma_lists_and_secret_files_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("k" * 40 + "\n")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")

    settings = load_settings()

    assert settings.secret_key == "k" * 40
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]


def test_a_secure_production_configuration_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)

    assert load_settings().app_env == "production"


@pytest.mark.parametrize(("variable", "value"), [
    ("DATABASE_URL", "sqlite+aiosqlite:///./var/auth.db"),
    ("MAIL_BACKEND", "console"),
    ("REDIS_URL", None),
    ("SECRET_KEY", None),
    ("PUBLIC_BASE_URL", "http://auth.example.com"),
    ("FRONTEND_URL", "http://app.example.com"),
    ("SMTP_USERNAME", "mailer"),
    ("RATE_LIMIT_ENABLED", "false"),
])
def test_production_refuses_each_insecure_setting_naming_it(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None) -> None:
    for name, good in PRODUCTION.items():
        monkeypatch.setenv(name, good)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as error:
        load_settings()

    named = "SMTP_STARTTLS" if variable == "SMTP_USERNAME" else variable
    assert str(error.value).startswith(named + ":")


def test_plain_http_is_allowed_in_production_for_localhost_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:3000")

    assert load_settings().public_base_url == "http://127.0.0.1:3000"


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"^SECRET_KEY"):
        load_settings(secret_key="too-short")


def test_the_cli_refuses_production_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {"APP_ENV": "production", "CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    result = subprocess.run([sys.executable, "-m", "auth_service", "migrate"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "auth-service: configuration error: DATABASE_URL: an embedded SQLite database is not allowed in production"]

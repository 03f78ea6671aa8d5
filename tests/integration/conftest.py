"""Integration fixtures: every test runs on SQLite and on PostgreSQL (TEST_DATABASE_URL), on a
schema made by `alembic upgrade head`, starting from empty tables. Without TEST_DATABASE_URL the
PostgreSQL runs skip with a one-line reason, except on CI (CI=true), where they fail."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock, Mailbox

KEEP_TABLES = ("alembic_version", "locks")
TEST_SECRET_KEY = "integration-test-secret-key-0123456789"


def _require(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get("CI") == "true":
        pytest.fail(f"{variable} is not set: CI must run the {what} tests")
    pytest.skip(f"{what} tests need {variable}")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own, migrated once, dropped at the end."""
    admin_url = _require("TEST_DATABASE_URL", "PostgreSQL")
    name = f"auth_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is not usable: {exc}")
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is not usable: {exc}")
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "auth.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


async def _empty_postgres(url: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = ", ".join(f'"{row["tablename"]}"' for row in tables if row["tablename"] not in KEEP_TABLES)
        await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "auth.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_postgres(url))  # sync fixture: no event loop is running yet
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with `@pytest.mark.parametrize`) to change settings."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "app_env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "public_base_url": "http://testserver",
        "frontend_url": "https://app.example.com",
        # Cheap hashing parameters through settings: the same code path as production.
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "introspection_clients": ["resource-server:rs-secret"],
        "outbox_poll_interval": 0.05,
        "revocation_poll_interval": 0.2,
        "key_reload_interval": 3600,
        # Request limits are tested on their own (test_rate_limits.py); elsewhere a test may send
        # more logins a minute than a person would. Lockout and the resend/code limits stay on.
        "rate_limit_enabled": False,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
async def container(settings: Settings, clock: FixedClock, mailbox: Mailbox) -> AsyncIterator[Container]:
    container = Container(settings, clock=clock, mail_sender=mailbox)
    app = create_app(container)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        container.app = app  # type: ignore[attr-defined]
        yield container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=container.app, client=("203.0.113.7", 40000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client

"""Signing keys as an operator handles them (SPEC §3 Keys and discovery, §8 Command line): the real
`auth-service` command in a subprocess against the test's database, checked through the app.

The app reloads its key set every 30 s; the tests call that reload (`reload_keys`) instead of
waiting. The CLI runs on the wall clock and the app on the test clock: after each command the test
clock catches up with the wall clock, and SKEW absorbs the little that remains."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.db.tables import SigningKeyRow
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock, Mailbox
from tests.integration.conftest import TEST_SECRET_KEY
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, login, signed_in

CLI = Path(sys.executable).with_name("auth-service")
KEY_PREPUBLISH = 300
ACCESS_TOKEN_TTL = 900
SKEW = 5  # seconds between the test clock and the CLI's wall clock, at most


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def catch_up(clock: FixedClock) -> None:
    """Bring the test clock to the wall clock, on which the CLI just ran."""
    clock.advance(max(0.0, (datetime.now(UTC) - clock.now()).total_seconds()))


async def run_cli(database_url: str, tmp_path: Path, *args: str) -> CliResult:
    """`auth-service ARGS` as an operator runs it: configured by the environment only."""
    config_dir = tmp_path / "empty-config"
    config_dir.mkdir(exist_ok=True)
    environment = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")},
        "APP_ENV": "test", "CONFIG_DIR": str(config_dir), "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY, "ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1",
        "LOG_LEVEL": "warning", "PUBLIC_BASE_URL": "http://testserver",
    }
    process = await asyncio.create_subprocess_exec(str(CLI), *args, env=environment, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


async def rotate(settings: Settings, clock: FixedClock, tmp_path: Path, *flags: str) -> str:
    result = await run_cli(settings.database_url, tmp_path, "rotate-keys", *flags)
    catch_up(clock)
    assert result.returncode == 0, result.stderr
    match = re.search(r"new signing key (\S+) published", result.stdout)
    assert match, result.stdout
    return match.group(1)


async def reload_keys(container: Container) -> None:
    """What every instance does at least every 30 s."""
    await container.key_store.load(container.uow, container.clock)


async def published_kids(client: httpx.AsyncClient) -> set[str]:
    return {key["kid"] for key in (await client.get("/.well-known/jwks.json")).json()["keys"]}


def kid_of(access_token: str) -> str:
    kid: str = jwt.get_unverified_header(access_token)["kid"]
    return kid


async def validate(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(f"{API}/auth/validate-token", headers=bearer(access_token))


async def count_keys(settings: Settings) -> int:
    container = Container(settings)
    try:
        async with container.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(SigningKeyRow)) or 0)
    finally:
        await container.stop()


@dataclass(frozen=True)
class Instance:
    client: httpx.AsyncClient
    container: Container


@contextlib.asynccontextmanager
async def another_instance(settings: Settings, clock: FixedClock,
                           mailbox: Mailbox | None = None) -> AsyncIterator[Instance]:
    """One more running instance of the service, on the same database as the others."""
    container = Container(settings, clock=clock, mail_sender=mailbox or Mailbox())
    app = create_app(container)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Instance(client, container)


@pytest.fixture
async def fresh_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the same kind as `database_url` with nothing in it, not even the schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"auth_fresh_{uuid.uuid4().hex[:12]}"
    admin_dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def test_a_rotated_key_is_published_at_once_and_signs_after_the_prepublication(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock,
        settings: Settings, tmp_path: Path) -> None:
    before = await signed_in(client, mailbox, "ada@example.com")
    old_kid = kid_of(before["access_token"])

    new_kid = await rotate(settings, clock, tmp_path)
    await reload_keys(container)

    assert new_kid != old_kid
    assert await published_kids(client) == {old_kid, new_kid}
    assert kid_of((await login(client, "ada@example.com"))["access_token"]) == old_kid
    clock.advance(KEY_PREPUBLISH - SKEW)
    assert kid_of((await login(client, "ada@example.com"))["access_token"]) == old_kid
    clock.advance(2 * SKEW)
    after = await login(client, "ada@example.com")
    assert kid_of(after["access_token"]) == new_kid
    assert (await validate(client, before["access_token"])).status_code == 200
    assert (await validate(client, after["access_token"])).status_code == 200


async def test_the_old_key_leaves_the_jwks_once_its_last_token_has_expired(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock,
        settings: Settings, tmp_path: Path) -> None:
    old_kid = kid_of((await signed_in(client, mailbox, "ada@example.com"))["access_token"])
    new_kid = await rotate(settings, clock, tmp_path, "--now")

    clock.advance(ACCESS_TOKEN_TTL - SKEW)
    await reload_keys(container)
    still_published = await published_kids(client)
    clock.advance(2 * SKEW)
    await reload_keys(container)

    assert still_published == {old_kid, new_kid}
    assert await published_kids(client) == {new_kid}


async def test_rotating_now_signs_with_the_new_key_at_once_and_old_tokens_still_validate(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock, settings: Settings,
        tmp_path: Path) -> None:
    before = await signed_in(client, mailbox, "ada@example.com")

    new_kid = await rotate(settings, clock, tmp_path, "--now")
    await reload_keys(container)

    after = await login(client, "ada@example.com")
    assert kid_of(after["access_token"]) == new_kid != kid_of(before["access_token"])
    assert (await validate(client, before["access_token"])).status_code == 200
    assert (await validate(client, after["access_token"])).status_code == 200


async def test_the_tokens_of_a_revoked_key_fail_even_if_they_were_validated_before(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock, settings: Settings,
        tmp_path: Path) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    old_kid = kid_of(tokens["access_token"])
    for _ in range(2):  # the second sight puts it in the verified cache
        assert (await validate(client, tokens["access_token"])).status_code == 200
    new_kid = await rotate(settings, clock, tmp_path, "--now")

    revoked = await run_cli(settings.database_url, tmp_path, "keys", "revoke", "--", old_kid)
    await reload_keys(container)

    assert revoked.returncode == 0, revoked.stderr
    for endpoint in (f"{API}/auth/validate-token", f"{API}/users/me"):
        response = await client.get(endpoint, headers=bearer(tokens["access_token"]))
        assert response.status_code == 401
        assert error_code(response) == "invalid_token"
    assert await published_kids(client) == {new_kid}
    assert (await validate(client, (await login(client, "ada@example.com"))["access_token"])).status_code == 200


async def test_revoking_the_only_signing_key_puts_a_new_one_in_its_place(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, clock: FixedClock, settings: Settings,
        tmp_path: Path) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    old_kid = kid_of(tokens["access_token"])

    revoked = await run_cli(settings.database_url, tmp_path, "keys", "revoke", "--", old_kid)
    catch_up(clock)
    await reload_keys(container)

    assert revoked.returncode == 0, revoked.stderr
    assert (await validate(client, tokens["access_token"])).status_code == 401
    after = await login(client, "ada@example.com")
    assert kid_of(after["access_token"]) != old_kid
    assert (await validate(client, after["access_token"])).status_code == 200


async def test_revoking_an_unknown_key_fails_and_changes_nothing(
        client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    before = await published_kids(client)

    # A kid is base64url and may start with "-": after "--" it is never read as an option.
    result = await run_cli(settings.database_url, tmp_path, "keys", "revoke", "--", "-no-such-kid")

    assert result.returncode != 0
    assert "no active key -no-such-kid" in result.stderr
    assert await published_kids(client) == before


async def test_migrate_creates_the_schema_and_the_first_signing_key(
        fresh_database_url: str, settings: Settings, tmp_path: Path) -> None:
    result = await run_cli(fresh_database_url, tmp_path, "migrate")

    assert result.returncode == 0, result.stderr
    container = Container(settings.model_copy(update={"database_url": fresh_database_url}))
    try:
        await container.key_store.load(container.uow, container.clock)  # what start() reads, without start()
        assert len(container.jwks()["keys"]) == 1
    finally:
        await container.stop()
    again = await run_cli(fresh_database_url, tmp_path, "migrate")
    assert again.returncode == 0, again.stderr
    assert await count_keys(settings.model_copy(update={"database_url": fresh_database_url})) == 1


async def test_concurrent_first_starts_create_one_key(
        fresh_database_url: str, settings: Settings, clock: FixedClock) -> None:
    await asyncio.to_thread(upgrade_to_head, fresh_database_url)
    fresh = settings.model_copy(update={"database_url": fresh_database_url})
    instances = [Container(fresh, clock=clock, mail_sender=Mailbox()) for _ in range(5)]

    try:
        await asyncio.gather(*(instance.start() for instance in instances))
    finally:
        for instance in instances:
            await instance.stop()

    assert await count_keys(fresh) == 1


async def test_an_admin_created_by_the_cli_can_sign_in(
        client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")

    result = await run_cli(settings.database_url, tmp_path, "create-admin", "--email", "Root@Example.com",
                           "--password-file", str(password_file))

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    tokens = await login(client, "root@example.com")
    assert tokens["user"]["role"] == "admin"
    validated = await validate(client, tokens["access_token"])
    assert validated.json()["claims"]["roles"] == ["admin"]


def _rsa_pem(tmp_path: Path) -> tuple[Path, rsa.RSAPrivateKey]:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "signing-key.pem"
    path.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return path, private_key


async def test_a_signing_key_file_is_imported_as_the_active_key_at_start(
        settings: Settings, clock: FixedClock, tmp_path: Path, mailbox: Mailbox) -> None:
    path, private_key = _rsa_pem(tmp_path)
    configured = settings.model_copy(update={"jwt_signing_key_file": str(path)})

    async with another_instance(configured, clock, mailbox) as instance:
        tokens = await signed_in(instance.client, mailbox, "ada@example.com")
        kids = await published_kids(instance.client)

    assert kids == {kid_of(tokens["access_token"])}
    claims = jwt.decode(tokens["access_token"], private_key.public_key(), algorithms=["RS256"],
                        audience="auth-service", options={"verify_exp": False, "verify_nbf": False,
                                                          "verify_iat": False})
    assert claims["email"] == "ada@example.com"


async def test_a_signing_key_file_already_imported_is_left_as_it_is_after_a_rotation(
        settings: Settings, clock: FixedClock, tmp_path: Path, mailbox: Mailbox) -> None:
    path, _ = _rsa_pem(tmp_path)
    configured = settings.model_copy(update={"jwt_signing_key_file": str(path)})
    async with another_instance(configured, clock) as first:
        imported = await published_kids(first.client)
    new_kid = await rotate(configured, clock, tmp_path, "--now")

    async with another_instance(configured, clock, mailbox) as instance:
        kids = await published_kids(instance.client)
        tokens = await signed_in(instance.client, mailbox, "ada@example.com")

    assert kids == imported | {new_kid}
    assert kid_of(tokens["access_token"]) == new_kid
    assert await count_keys(configured) == 2

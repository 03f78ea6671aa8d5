"""The audit chain as an operator checks and bounds it (SPEC §6, §8): the real `auth-service audit
verify` and `audit purge` in a subprocess, against the test's database, after tampering with it
in SQL the way someone with write access to the database alone could."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from auth_service.bootstrap import Container, Settings
from auth_service.infrastructure.db.tables import AuditCheckpointRow
from auth_service.interfaces.http.app import create_app
from tests.doubles import FixedClock, Mailbox
from tests.integration.conftest import TEST_SECRET_KEY
from tests.integration.http.flows import API, PASSWORD, bearer, signed_in
from tests.integration.http.stored import as_dict, one, rows

CLI = Path(sys.executable).with_name("auth-service")
OLD = timedelta(days=10)


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def audit_cli(database_url: str, tmp_path: Path, *args: str) -> CliResult:
    """`auth-service audit ARGS`, configured by the environment only, as an operator runs it."""
    environment = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")},
        "APP_ENV": "test", "CONFIG_DIR": str(tmp_path / "no-config"), "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY, "LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(str(CLI), "audit", *args, env=environment, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_enabled": False}  # many sign-ups from one test client


@pytest.fixture
def clock() -> FixedClock:
    """Ten days back: what the app writes first is old enough to purge; `clock.advance` to catch up."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0) - OLD)


async def linked(container: Container) -> list[dict[str, Any]]:
    """Every record, once the chain holds them all, in chain order."""
    await container.audit_chain.link_pending()
    return await rows(container, "SELECT id, seq, mac FROM audit_logs ORDER BY seq")


async def sql(container: Container, *statements: str, **params: Any) -> None:
    async with container.sessionmaker() as session:
        for statement in statements:
            await session.execute(text(statement), params)
        await session.commit()


# -- verify -------------------------------------------------------------------------------------

async def test_verify_says_ok_on_an_intact_trail(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, database_url: str,
        tmp_path: Path) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    records = await linked(container)

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"ok ({len(records)} records)"


async def test_verify_names_a_record_whose_details_were_altered(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, database_url: str,
        tmp_path: Path) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    records = await linked(container)
    await sql(container, "UPDATE audit_logs SET details = :details WHERE id = :id",
              details='{"forged": true}', id=records[1]["id"])

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert f"broken at {records[1]['id']}" in result.stdout


async def test_verify_names_the_record_after_a_deleted_one(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, database_url: str,
        tmp_path: Path) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    records = await linked(container)
    await sql(container, "DELETE FROM audit_logs WHERE id = :id", id=records[1]["id"])

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert f"broken at {records[2]['id']}" in result.stdout


async def test_verify_names_a_record_moved_to_another_place_in_the_chain(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, database_url: str,
        tmp_path: Path) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    first, second, third = (await linked(container))[:3]
    await sql(container, "UPDATE audit_logs SET seq = -1 WHERE id = :a", "UPDATE audit_logs SET seq = :s WHERE id = :b",
              "UPDATE audit_logs SET seq = :t WHERE id = :a", a=second["id"], b=third["id"], s=second["seq"],
              t=third["seq"])

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert f"broken at {third['id']}" in result.stdout  # now second in the chain, its MAC says third
    assert first["id"] not in result.stdout


async def _busy_user(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> None:
    """A user who signs up, signs in twice, fails once, refreshes and signs out: seven records."""
    tokens = await signed_in(client, mailbox, email)
    await client.post(f"{API}/auth/login", json={"email": email, "password": "not the password at all"})
    again = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": again.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.post(f"{API}/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204


async def _writer(client: httpx.AsyncClient, mailbox: Mailbox, name: str, users: int) -> None:
    for n in range(users):
        await _busy_user(client, mailbox, f"{name}-{n}@example.com")


async def _all_linked_by_the_apps(container: Container) -> list[dict[str, Any]]:
    """Wait for the running instances' sequencers (not this test's) to link every record."""
    async with asyncio.timeout(30):
        while (await one(container, "SELECT count(*) AS n FROM audit_logs WHERE seq IS NULL"))["n"]:
            await asyncio.sleep(0.05)
    return await rows(container, "SELECT id, seq FROM audit_logs ORDER BY seq")


async def test_four_concurrent_writers_leave_a_chain_that_verifies(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, database_url: str,
        tmp_path: Path) -> None:
    await asyncio.gather(*(_writer(client, mailbox, f"writer{w}", users=4) for w in range(4)))
    records = await _all_linked_by_the_apps(container)

    result = await audit_cli(database_url, tmp_path, "verify")

    assert len(records) == 4 * 4 * 7
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert result.returncode == 0 and result.stdout.strip() == f"ok ({len(records)} records)"


@contextlib.asynccontextmanager
async def another_instance(settings: Settings, clock: FixedClock, mailbox: Mailbox) -> AsyncIterator[Container]:
    """A second running instance of the service on the same database, with its own sequencer."""
    container = Container(settings, clock=clock, mail_sender=mailbox)
    app = create_app(container)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        container.app = app  # type: ignore[attr-defined]
        yield container


async def test_two_instances_writing_at_once_leave_one_chain_without_fork_or_gap(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container, settings: Settings,
        clock: FixedClock, database_url: str, tmp_path: Path) -> None:
    async with another_instance(settings, clock, mailbox) as second:
        transport = httpx.ASGITransport(app=second.app, client=("203.0.113.8", 40000))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            await asyncio.gather(*(_writer(each, mailbox, f"{name}{w}", users=3)
                                   for name, each in (("one", client), ("two", other)) for w in range(2)))
            records = await _all_linked_by_the_apps(container)

    result = await audit_cli(database_url, tmp_path, "verify")

    assert len(records) == 2 * 2 * 3 * 7
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert result.returncode == 0 and result.stdout.strip() == f"ok ({len(records)} records)"


# -- purge --------------------------------------------------------------------------------------

@pytest.fixture
async def old_and_new(client: httpx.AsyncClient, mailbox: Mailbox, container: Container,
                      clock: FixedClock) -> tuple[list[str], list[str]]:
    """The ids of records written ten days ago, then of records written an hour ago."""
    await signed_in(client, mailbox, "old@example.com")
    old = [r["id"] for r in await linked(container)]
    clock.advance((OLD - timedelta(hours=1)).total_seconds())
    await signed_in(client, mailbox, "new@example.com")
    new = [r["id"] for r in await linked(container) if r["id"] not in old]
    return old, new


async def test_purge_deletes_exactly_the_records_past_retention_and_records_that_it_did(
        container: Container, database_url: str, tmp_path: Path,
        old_and_new: tuple[list[str], list[str]]) -> None:
    old, new = old_and_new

    result = await audit_cli(database_url, tmp_path, "purge", "--days", "5")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"purged {len(old)} records"
    remaining = await rows(container, "SELECT id, action, target_type, details FROM audit_logs")
    purged = [r for r in remaining if r["action"] == "audit.purged"]
    assert sorted(r["id"] for r in remaining if r not in purged) == sorted(new)
    assert len(purged) == 1 and purged[0]["target_type"] == "audit"
    assert as_dict(purged[0]["details"])["purged"] == len(old)


async def test_the_chain_still_verifies_after_a_purge(
        container: Container, database_url: str, tmp_path: Path, old_and_new: tuple[list[str], list[str]]) -> None:
    await audit_cli(database_url, tmp_path, "purge", "--days", "5")

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == f"ok ({len(old_and_new[1]) + 1} records)"


async def test_deleting_old_records_without_a_purge_is_reported_as_a_truncation(
        container: Container, database_url: str, tmp_path: Path, old_and_new: tuple[list[str], list[str]]) -> None:
    old, new = old_and_new
    await sql(container, f"DELETE FROM audit_logs WHERE id IN ({', '.join(repr(i) for i in old)})")

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert f"broken at {new[0]}" in result.stdout


async def test_truncating_what_a_purge_left_is_reported_too(
        container: Container, database_url: str, tmp_path: Path, old_and_new: tuple[list[str], list[str]]) -> None:
    new = old_and_new[1]
    await audit_cli(database_url, tmp_path, "purge", "--days", "5")
    await sql(container, "DELETE FROM audit_logs WHERE id = :id", id=new[0])

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert f"broken at {new[1]}" in result.stdout


async def test_a_forged_checkpoint_is_reported(
        container: Container, database_url: str, tmp_path: Path, old_and_new: tuple[list[str], list[str]]) -> None:
    old, new = old_and_new
    last_old = next(r for r in await linked(container) if r["id"] == old[-1])
    await sql(container, f"DELETE FROM audit_logs WHERE id IN ({', '.join(repr(i) for i in old)})")
    async with container.sessionmaker() as session:
        # What a purge would have written, but with a MAC made without SECRET_KEY.
        session.add(AuditCheckpointRow(created_at=datetime.now(UTC), last_seq=last_old["seq"],
                                       last_mac=last_old["mac"], purged_count=len(old), mac="0" * 64))
        await session.commit()

    result = await audit_cli(database_url, tmp_path, "verify")

    assert result.returncode == 1
    assert "checkpoint" in result.stdout and new[0] not in result.stdout

"""The asyncpg reader of /users/me: its DSN, its statement and how it lends its connections (the
database part is in tests/integration/http/test_me_fast_path.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from auth_service.infrastructure.db.fast_reads import (
    _SELECT_USER,
    AsyncpgConnections,
    asyncpg_dsn,
    statement_cache_size,
)
from auth_service.infrastructure.db.tables import UserRow


def test_the_dsn_is_the_sqlalchemy_url_without_the_dialects_options() -> None:
    url = "postgresql+asyncpg://auth:p%40ss@db.internal:5433/auth?prepared_statement_cache_size=0&sslmode=require"

    assert asyncpg_dsn(url) == "postgresql://auth:p%40ss@db.internal:5433/auth?sslmode=require"


def test_a_statement_cache_turned_off_in_the_url_is_off_here_too() -> None:
    off = statement_cache_size("postgresql+asyncpg://a@h/d?prepared_statement_cache_size=0")
    default = statement_cache_size("postgresql+asyncpg://a@h/d")

    assert (off, default) == (0, 100)


def test_the_statement_reads_every_column_of_users_in_table_order() -> None:
    columns = ", ".join(f"users.{column.name}" for column in UserRow.__table__.columns)

    assert " ".join(_SELECT_USER.split()) == f"SELECT {columns} FROM users WHERE users.id = $1::VARCHAR"


class _FakeConnection:
    """An asyncpg connection as `AsyncpgConnections` uses it; `answer` decides what each read does."""

    def __init__(self, answer: Callable[[], Awaitable[Any]]) -> None:
        self.answer, self.terminated, self.closed = answer, False, False

    def is_closed(self) -> bool:
        return self.terminated or self.closed

    async def fetchrow(self, _query: str, *_args: Any) -> Any:
        return await self.answer()

    def terminate(self) -> None:
        self.terminated = True

    async def close(self) -> None:
        self.closed = True


def _connections(answer: Callable[[], Awaitable[Any]],
                 size: int = 2) -> tuple[AsyncpgConnections, list[_FakeConnection]]:
    made: list[_FakeConnection] = []

    async def connect() -> _FakeConnection:
        made.append(_FakeConnection(answer))
        return made[-1]

    return AsyncpgConnections(connect, size), made


async def _row() -> str:
    return "row"


async def test_a_connection_is_reused_and_opened_only_when_needed() -> None:
    connections, made = _connections(_row)

    assert [await connections.fetchrow("q") for _ in range(3)] == ["row"] * 3
    assert len(made) == 1


async def test_after_a_failed_read_the_connection_is_dropped_and_the_next_read_opens_a_new_one() -> None:
    failing = True

    async def answer() -> str:
        if failing:
            raise ConnectionResetError("server went away")
        return "row"

    connections, made = _connections(answer, size=1)
    with pytest.raises(ConnectionResetError):
        await connections.fetchrow("q")
    failing = False

    assert await connections.fetchrow("q") == "row"
    assert made[0].terminated and len(made) == 2 and not made[1].terminated


async def test_a_read_cancelled_mid_query_never_lends_its_connection_again() -> None:
    started = asyncio.Event()
    slow = True

    async def answer() -> str:
        if slow:
            started.set()
            await asyncio.sleep(10)
        return "row"

    connections, made = _connections(answer, size=1)
    read = asyncio.create_task(connections.fetchrow("q"))
    await started.wait()
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    slow = False

    assert made[0].terminated
    assert await asyncio.wait_for(connections.fetchrow("q"), 1) == "row"
    assert len(made) == 2 and not made[1].terminated


async def test_no_more_than_size_reads_run_at_once() -> None:
    running, most = 0, 0
    release = asyncio.Event()

    async def answer() -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return "row"

    connections, made = _connections(answer, size=2)
    reads = [asyncio.create_task(connections.fetchrow("q")) for _ in range(5)]
    await asyncio.sleep(0.05)
    release.set()

    assert await asyncio.gather(*reads) == ["row"] * 5
    assert most == 2 and len(made) == 2


async def test_closing_closes_idle_connections_and_refuses_reads() -> None:
    connections, made = _connections(_row)
    await connections.warm()

    await connections.close()

    assert made[0].closed
    with pytest.raises(asyncpg.InterfaceError):
        await connections.fetchrow("q")

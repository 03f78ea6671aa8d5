"""The hot paths on PostgreSQL straight through asyncpg: `GET /users/me` here, a password login's
reads and write in fast_logins.py. One prepared statement each, no SQLAlchemy.

The SQLAlchemy Core read of SqlUserViews.get costs about 0.5 ms of client CPU (statement cache
lookup, connection checkout events, result processing), more than routing and validating the
request together. Here the same row comes through a few asyncpg connections of their own
(AsyncpgConnections, shared by both), each of which prepares the statement once; the row becomes a
User through the repositories' own conversion and a view through UserView.of, so the status and
is_active rules stay in one place. Lists keep SqlUserViews (see `list`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import UserQuery, UserViews
from auth_service.application.views import UserView
from auth_service.domain.users import User
from auth_service.infrastructure.db.repositories import user_from_row
from auth_service.infrastructure.db.tables import UserRow

CONNECTIONS = 8  # per worker, besides the SQLAlchemy pool
# The connect_args of engine.make_engine: the same connect timeout and statement limit.
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
STATEMENT_CACHE_SIZE = 100  # asyncpg's default, as SQLAlchemy's dialect

_DIALECT_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")

# The statement SqlUserViews.get sends, compiled once by SQLAlchemy's asyncpg dialect: the same
# columns in the same order, `$1` for the id.
_users = UserRow.__table__
ASYNCPG_DIALECT: Any = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
_SELECT_USER = str(select(_users).where(_users.c.id == bindparam("id")).compile(dialect=ASYNCPG_DIALECT))


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+asyncpg://...`) as a DSN asyncpg accepts (without the
    options of SQLAlchemy's dialect, which asyncpg would send to the server as settings)."""
    url = make_url(database_url).difference_update_query(_DIALECT_OPTIONS)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def user_from_record(record: Any) -> User:
    """The User of an asyncpg record with the columns of users (under their own names)."""
    values = dict(record.items())
    profile = values["profile"]
    # asyncpg hands jsonb over as text; SQLAlchemy's asyncpg dialect decodes it with json.loads.
    values["profile"] = json.loads(profile) if profile is not None else None
    # Timestamps: asyncpg returns timestamptz aware, in UTC, as UtcDateTime does.
    return user_from_row(values)


class AsyncpgConnections:
    """Up to `size` asyncpg connections, each lent to one statement at a time, last returned first lent.
    Autocommit: each statement is its own transaction, one round trip.

    What asyncpg's Pool adds around a read (acquire and release contexts, a shielded release, the
    reset query, idle-lifetime bookkeeping) cost about a tenth of a `/users/me` read; here a read
    takes a connection from a queue and puts it back. A connection is opened when a read first
    needs it. After anything but a clean answer (a lost server, a timeout, a cancelled request
    mid-query) it is terminated and the next read opens a fresh one: a connection whose state is
    unknown is never lent again.
    """

    def __init__(self, connect: Callable[[], Awaitable[Any]], size: int = CONNECTIONS) -> None:
        self._connect = connect
        self._idle: asyncio.LifoQueue[Any] = asyncio.LifoQueue()
        for _ in range(size):
            self._idle.put_nowait(None)  # a slot without a connection yet
        self._closed = False

    async def warm(self) -> None:
        """Open one connection now: a database that cannot be reached fails the start, not a request."""
        connection = await self._idle.get()
        try:
            if connection is None:
                connection = await self._connect()
        except BaseException:
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(connection)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        if self._closed:
            raise asyncpg.InterfaceError("the asyncpg connections are closed")
        connection = await self._idle.get()
        try:
            if connection is None or connection.is_closed():
                connection = None
                connection = await self._connect()
            record = await connection.fetchrow(query, *args)
        except BaseException:
            if connection is not None:
                connection.terminate()
            self._idle.put_nowait(None)
            raise
        if self._closed:
            connection.terminate()  # closed while this read ran: nothing will lend it again
        else:
            self._idle.put_nowait(connection)
        return record

    async def close(self) -> None:
        """Close the idle connections; one lent out at this moment is terminated when its read ends."""
        self._closed = True
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection is None:
                continue
            try:
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT)
            except Exception:  # a connection stuck on a dead server
                connection.terminate()


def statement_cache_size(database_url: str) -> int:
    """`?prepared_statement_cache_size=0` (e.g. behind PgBouncer in transaction mode) holds here too."""
    cache_size = make_url(database_url).query.get("prepared_statement_cache_size")
    return int(cache_size) if isinstance(cache_size, str) else STATEMENT_CACHE_SIZE


def connections_for(database_url: str, size: int = CONNECTIONS) -> AsyncpgConnections:
    """The connections for a SQLAlchemy PostgreSQL URL; `warm()` before use, `close()` after."""
    dsn, cache_size = asyncpg_dsn(database_url), statement_cache_size(database_url)

    async def connect() -> Any:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                                     statement_cache_size=cache_size)

    return AsyncpgConnections(connect, size)


class AsyncpgUserViews:
    """UserViews for PostgreSQL whose `get` runs on asyncpg directly."""

    def __init__(self, connections: AsyncpgConnections, fallback: UserViews) -> None:
        self._connections = connections
        self._fallback = fallback

    async def get(self, user_id: str, now: datetime) -> UserView | None:
        record = await self._connections.fetchrow(_SELECT_USER, user_id)
        if record is None:
            return None
        return UserView.of(user_from_record(record), now)

    async def list(self, query: UserQuery, page: PageRequest, now: datetime) -> Page[UserView]:
        return await self._fallback.list(query, page, now)


"""`GET /users/me` on PostgreSQL straight through asyncpg: one prepared statement, no SQLAlchemy.

The SQLAlchemy Core read of SqlUserViews.get costs about 0.5 ms of client CPU (statement cache
lookup, connection checkout events, result processing), more than routing and validating the
request together. Here the same row comes through an asyncpg pool of its own, which prepares the
statement once per connection; the row becomes a User through the repositories' own conversion and
a view through UserView.of, so the status and is_active rules stay in one place. Lists keep
SqlUserViews (see `list`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import UserQuery, UserViews
from auth_service.application.views import UserView
from auth_service.infrastructure.db.repositories import user_from_row
from auth_service.infrastructure.db.tables import UserRow

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
# The connect_args of engine.make_engine: the same connect timeout and statement limit.
CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 30.0
STATEMENT_CACHE_SIZE = 100  # asyncpg's default, as SQLAlchemy's dialect

_DIALECT_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback")

# The statement SqlUserViews.get sends, compiled once by SQLAlchemy's asyncpg dialect: the same
# columns in the same order, `$1` for the id.
_users = UserRow.__table__
_DIALECT: Any = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
_SELECT_USER = str(select(_users).where(_users.c.id == bindparam("id")).compile(dialect=_DIALECT))


async def _nothing_to_reset(_connection: Any) -> None:
    """This pool only runs one SELECT outside any transaction: no SET, LISTEN, advisory lock or
    cursor to undo. asyncpg's default reset would send `RESET ALL; UNLISTEN *; ...` on every
    release, a second round trip per read. (asyncpg still rolls back an open transaction itself.)"""


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+asyncpg://...`) as a DSN asyncpg accepts (without the
    options of SQLAlchemy's dialect, which asyncpg would send to the server as settings)."""
    url = make_url(database_url).difference_update_query(_DIALECT_OPTIONS)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncpgUserViews:
    """UserViews for PostgreSQL whose `get` runs on asyncpg directly. `open()` before use (the
    container does it on start) and `close()` after."""

    def __init__(self, database_url: str, fallback: UserViews, *, min_size: int = POOL_MIN_SIZE,
                 max_size: int = POOL_MAX_SIZE) -> None:
        self._dsn = asyncpg_dsn(database_url)
        # `?prepared_statement_cache_size=0` (e.g. behind PgBouncer in transaction mode) holds here too.
        cache_size = make_url(database_url).query.get("prepared_statement_cache_size")
        self._statement_cache_size = int(cache_size) if isinstance(cache_size, str) else STATEMENT_CACHE_SIZE
        self._fallback = fallback
        self._min_size, self._max_size = min_size, max_size
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is None:
            # Autocommit, like SqlUserViews' single-statement engine: one round trip per read.
            self._pool = await asyncpg.create_pool(self._dsn, min_size=self._min_size, max_size=self._max_size,
                                                   timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                                                   statement_cache_size=self._statement_cache_size,
                                                   reset=_nothing_to_reset)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT)
            except Exception:  # a connection stuck on a dead server: drop what is left
                pool.terminate()

    async def get(self, user_id: str, now: datetime) -> UserView | None:
        if self._pool is None:
            raise RuntimeError("AsyncpgUserViews.open() was not called")
        record = await self._pool.fetchrow(_SELECT_USER, user_id)
        if record is None:
            return None
        values = dict(record.items())
        profile = values["profile"]
        # asyncpg hands jsonb over as text; SQLAlchemy's asyncpg dialect decodes it with json.loads.
        values["profile"] = json.loads(profile) if profile is not None else None
        # Timestamps: asyncpg returns timestamptz aware, in UTC, as UtcDateTime does.
        return UserView.of(user_from_row(values), now)

    async def list(self, query: UserQuery, page: PageRequest, now: datetime) -> Page[UserView]:
        return await self._fallback.list(query, page, now)


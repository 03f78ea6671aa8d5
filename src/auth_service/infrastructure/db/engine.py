"""Engine creation. SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` so that concurrent
writers queue instead of failing on a read-to-write upgrade (PITFALLS: SQLite and concurrency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


# A fixed pool per process, no overflow: overflow connections are closed as soon as they are
# returned, so a burst past the pool would open (TLS-negotiate, authenticate) and drop a
# PostgreSQL connection per request. Past the pool, requests wait (pool_timeout) instead.
POOL_SIZE = 20


def make_engine(database_url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # No pool: opening a SQLite file costs little, and a fresh connection always sees the file
        # as it is now (a pooled one can stay bound to a file that was replaced while it was down).
        engine = create_async_engine(url, poolclass=NullPool,
                                     connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def reads_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine for reads: on PostgreSQL without BEGIN and ROLLBACK around them, two round trips
    fewer. Under READ COMMITTED each statement sees the data committed when it starts, inside a
    transaction or not, so reads lose nothing. SQLite keeps its transactions: there every
    transaction begins IMMEDIATE, which AUTOCOMMIT would not skip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

"""Which database failures mean "the database is unavailable" (503) rather than a bug (500)."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# asyncpg used directly (fast_reads.py), without SQLAlchemy's wrapping: a lost or refused
# connection (class 08), a server shutting down or not accepting connections yet (57P01-57P03),
# too many connections and other exhausted resources (class 53), and the client-side
# InterfaceError ("connection is closed", "pool is closing"), which SQLAlchemy's asyncpg dialect
# turns into its InterfaceError, a 503 here too. Refused sockets and timeouts are OSError and
# TimeoutError, below.
_ASYNCPG_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError, asyncpg.InterfaceError)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | ConnectionError
                  | asyncio.TimeoutError | TimeoutError):
        return True
    if isinstance(exc, _ASYNCPG_UNAVAILABLE):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, OSError | ConnectionError)


# The exception families that may mean a dependency is down (checked with is_unavailable).
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, TimeoutError, asyncpg.PostgresError,
                                                  asyncpg.InterfaceError)

"""Which database failures mean "the database is unavailable" (503) rather than a bug (500)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | ConnectionError
                  | asyncio.TimeoutError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, OSError | ConnectionError)


# The exception families that may mean a dependency is down (checked with is_unavailable).
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, TimeoutError)

"""Which database failures answer 503: SQLAlchemy's, and asyncpg's raw ones (fast_reads.py)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest

from auth_service.infrastructure.db.errors import DEPENDENCY_ERRORS, is_unavailable


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    OSError(113, "No route to host"),
    TimeoutError(),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.ConnectionFailureError(),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("connection is closed"),
])
def test_a_lost_or_refused_database_is_unavailable(exc: Exception) -> None:
    assert isinstance(exc, DEPENDENCY_ERRORS)
    assert is_unavailable(exc)


def test_an_sql_error_through_asyncpg_is_a_bug_not_an_outage() -> None:
    exc = asyncpg.exceptions.UndefinedColumnError("column users.nope does not exist")
    assert isinstance(exc, DEPENDENCY_ERRORS)  # handled: answered 500 and logged, not 503
    assert not is_unavailable(exc)

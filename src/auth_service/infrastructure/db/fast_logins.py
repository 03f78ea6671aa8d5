"""A password login's reads and write on PostgreSQL straight through asyncpg (LoginStore).

Through the unit of work, the login's read (counter, account, company) and its write (the one
statement of SqlLoginRepository.record) cost about 1 and 2 ms of client CPU: sessions, connection
checkout and reset, statement cache lookups, result processing. On two cores every millisecond of
it is taken from the password hashes, which set the login's capacity. Here the read is one
statement and the write is the repository's own statement, compiled once by SQLAlchemy's asyncpg
dialect and sent with the same parameters, each in its own implicit transaction on the shared
AsyncpgConnections (fast_reads.py): about 0.1 ms each. Rows become entities through the
repositories' own conversions. Elsewhere (SQLite, the tests' fakes) UnitOfWorkLoginStore does it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table

from auth_service.application.errors import ServiceUnavailableError
from auth_service.application.ports import LoginState, NewSession
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.users import User
from auth_service.infrastructure.db.errors import is_unavailable
from auth_service.infrastructure.db.fast_reads import ASYNCPG_DIALECT, AsyncpgConnections, user_from_record
from auth_service.infrastructure.db.repositories import login_write
from auth_service.infrastructure.db.tables import CompanyRow, FailureCounterRow, UserRow


def _columns(table: Table, alias: str, names: list[str]) -> str:
    assert all(name in table.c for name in names), f"{alias}: a field without a column"
    return ", ".join(f'{alias}.{name} AS "{alias}_{name}"' for name in names)


_USER_FIELDS = [column.name for column in cast(Table, UserRow.__table__).c]
_COMPANY_FIELDS = [field.name for field in dataclasses.fields(Company)]
_COUNTER_FIELDS = [field.name for field in dataclasses.fields(FailureCounter)]
# One row whatever exists: the email's account (the same row as SqlUserRepository.get_by_email),
# its company and the lockout counter, each NULL when missing.
_READ = f"""
SELECT {_columns(cast(Table, UserRow.__table__), "u", _USER_FIELDS)},
       {_columns(cast(Table, CompanyRow.__table__), "c", _COMPANY_FIELDS)},
       {_columns(cast(Table, FailureCounterRow.__table__), "f", _COUNTER_FIELDS)}
FROM (SELECT $1::VARCHAR AS email, $2::VARCHAR AS counter_key) AS wanted
LEFT OUTER JOIN users AS u ON u.email = wanted.email
LEFT OUTER JOIN companies AS c ON c.id = u.company_id
LEFT OUTER JOIN failure_counters AS f ON f.key = wanted.counter_key"""  # noqa: S608 - column names, no input


@functools.cache
def _compiled(statement: Select[Any]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """The statement's SQL for asyncpg ($1, $2, ... with casts), the parameter name of each $n and
    the values the statement itself holds (e.g. the 'active' of `status = 'active'`)."""
    compiled = statement.compile(dialect=ASYNCPG_DIALECT)
    assert compiled.positiontup is not None
    names = tuple(compiled.positiontup)
    fixed = {name: compiled.binds[name].value for name in names if not compiled.binds[name].required}
    return str(compiled), names, fixed


def _argument(value: Any) -> Any:
    # JSON columns (the audit record's details): the text SQLAlchemy's JSON type sends, to a $n::JSONB.
    return json.dumps(value) if isinstance(value, dict) else value


class AsyncpgLoginStore:
    """LoginStore on PostgreSQL. `audit_written` is the unit of work's commit hook: the audit
    chain links the login's record soon after."""

    def __init__(self, connections: AsyncpgConnections, audit_written: Callable[[], None]) -> None:
        self._connections, self._audit_written = connections, audit_written

    async def read(self, email: str, counter_key: str) -> LoginState:
        row = dict((await self._fetchrow(_READ, email, counter_key)).items())
        user = user_from_record(_part(row, "u_", _USER_FIELDS)) if row["u_id"] is not None else None
        company = Company(**_part(row, "c_", _COMPANY_FIELDS)) if row["c_id"] is not None else None
        counter = (FailureCounter(**_part(row, "f_", _COUNTER_FIELDS)) if row["f_key"] is not None
                   else FailureCounter(key=counter_key))
        return LoginState(counter, user, company)

    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        statement, params = login_write(user_id, now, password_hash=password_hash, opened=opened, audit=audit,
                                        clear_failures=clear_failures)
        sql, names, fixed = _compiled(statement)
        row = await self._fetchrow(sql, *[_argument(params[name] if name in params else fixed[name])
                                          for name in names])
        if row is None:
            return None
        self._audit_written()
        return user_from_record(row)

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        try:
            return await self._connections.fetchrow(sql, *args)
        except Exception as exc:  # as SqlUnitOfWork: a database that cannot be reached is a 503
            if is_unavailable(exc):
                raise ServiceUnavailableError() from exc
            raise


def _part(row: dict[str, Any], prefix: str, names: list[str]) -> dict[str, Any]:
    return {name: row[prefix + name] for name in names}

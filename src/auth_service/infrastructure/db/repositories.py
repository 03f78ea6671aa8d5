"""SQLAlchemy adapters of the persistence ports. Repositories never commit: the unit of work does.
Races are settled by conditional UPDATEs and upserts, which behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CTE, ColumnElement, Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.application.ports import (
    MfaChallenge,
    NewSession,
    OneTimeToken,
    Registration,
    ResendThrottle,
    SessionView,
    StoredSigningKey,
)
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company, company_name_key
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import Role, Source, User, UserStatus
from auth_service.infrastructure.db.tables import (
    AuditLogRow,
    CompanyRow,
    FailureCounterRow,
    LockRow,
    MfaBackupCodeRow,
    MfaChallengeRow,
    OneTimeTokenRow,
    RefreshTokenRow,
    RegistrationRow,
    ResendThrottleRow,
    SessionRow,
    SigningKeyRow,
    UserRow,
)

_sessions = cast(Table, SessionRow.__table__)
_refresh_tokens = cast(Table, RefreshTokenRow.__table__)
_audit_logs = cast(Table, AuditLogRow.__table__)
# The statements of the refresh path, built once: building and cache-keying a statement per call
# costs about as much as executing it.
_GET_SESSION = select(_sessions).where(_sessions.c.id == bindparam("sid"))
_TOUCH_SESSION = update(_sessions).where(_sessions.c.id == bindparam("sid")).values(last_used_at=bindparam("now"))
_INSERT_REFRESH_TOKEN = insert(_refresh_tokens)
_GET_REFRESH_TOKEN = select(_refresh_tokens).where(_refresh_tokens.c.token_hash == bindparam("hash"))
_ROTATE_REFRESH_TOKEN = (update(_refresh_tokens)
                         .where(_refresh_tokens.c.token_hash == bindparam("hash"),
                                _refresh_tokens.c.rotated_at.is_(None))
                         .values(rotated_at=bindparam("now"), successor_hash=bindparam("successor"),
                                 successor_enc=bindparam("sealed")))
_INSERT_AUDIT = insert(_audit_logs)
# ... and of the login path.
_users = cast(Table, UserRow.__table__)
_failure_counters = cast(Table, FailureCounterRow.__table__)
_GET_USER = select(_users).where(_users.c.id == bindparam("uid"))
_GET_USER_BY_EMAIL = select(_users).where(_users.c.email == bindparam("email"))
# A login stamps the account only while it is active (User.is_active).
_STAMP_LOGIN = (update(_users).where(_users.c.id == bindparam("uid"), _users.c.status == UserStatus.ACTIVE.value)
                .values(last_login_at=bindparam("now")))
_RECORD_LOGIN = _STAMP_LOGIN.returning(*_users.c)
_RECORD_LOGIN_REHASHED = _STAMP_LOGIN.values(password_hash=bindparam("password_hash")).returning(*_users.c)
_INSERT_SESSION = insert(_sessions)
_GET_FAILURE_COUNTER = select(_failure_counters).where(_failure_counters.c.key == bindparam("key"))
_CLEAR_FAILURE_COUNTER = delete(_failure_counters).where(_failure_counters.c.key == bindparam("key"))


def user_from_row(row: Any) -> User:
    """The User of a Core row (mapping) of the users table."""
    values = dict(row)
    values.update(role=Role(values["role"]), status=UserStatus(values["status"]), source=Source(values["source"]),
                  profile=dict(values["profile"] or {}))
    return User(**values)


def _fields(entity: Session | RefreshToken) -> dict[str, Any]:
    """The columns of an entity whose fields are its table's columns (shallow, unlike asdict)."""
    return {field.name: getattr(entity, field.name) for field in dataclasses.fields(entity)}


def _audit_values(record: AuditRecord) -> dict[str, Any]:
    return {"id": record.id, "occurred_at": record.occurred_at, "action": record.action, "outcome": record.outcome,
            "actor_id": record.actor_id, "target_type": record.target_type, "target_id": record.target_id,
            "company_id": record.company_id, "ip": record.ip, "user_agent": (record.user_agent or "")[:512] or None,
            "trace_id": record.trace_id, "details": record.details}


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def _upsert(session: AsyncSession, row_type: type[Any], key: str, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_fn(row_type).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=[key], set_=values))


async def _get_counter_row(session: AsyncSession, row_type: type[Any], key: str, for_update: bool) -> Any:
    """Read a per-email counter; `for_update` makes concurrent failures queue instead of losing
    increments (PostgreSQL: create the row if missing, then lock it; SQLite: BEGIN IMMEDIATE)."""
    if for_update and session.get_bind().dialect.name == "postgresql":
        await session.execute(postgresql.insert(row_type).values(key=key).on_conflict_do_nothing())
        stmt = select(row_type).where(row_type.key == key).with_for_update()
        return await session.scalar(stmt.execution_options(populate_existing=True))
    return await session.get(row_type, key, populate_existing=True)


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # Core reads, not ORM loads (about a millisecond of CPU each on the login path); `save` merges
    # by primary key whether or not the row was loaded in this session.
    async def get(self, user_id: str) -> User | None:
        row = (await self._session.execute(_GET_USER, {"uid": user_id})).mappings().first()
        return user_from_row(row) if row is not None else None

    async def get_by_email(self, email: str) -> User | None:
        row = (await self._session.execute(_GET_USER_BY_EMAIL, {"email": email})).mappings().first()
        return user_from_row(row) if row is not None else None

    async def get_by_keycloak_id(self, keycloak_id: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(UserRow.keycloak_id == keycloak_id))
        return row.to_entity() if row else None

    async def username_taken(self, username: str, *, except_user_id: str | None = None) -> bool:
        stmt = select(UserRow.id).where(UserRow.username == username)
        if except_user_id is not None:
            stmt = stmt.where(UserRow.id != except_user_id)
        return await self._session.scalar(stmt.limit(1)) is not None

    async def any_admin(self) -> bool:
        stmt = select(UserRow.id).where(UserRow.role == "admin", UserRow.status == "active").limit(1)
        return await self._session.scalar(stmt) is not None

    async def add(self, user: User) -> None:
        self._session.add(UserRow.from_entity(user))
        await self._session.flush()  # in call order: rows have no ORM relationships to sort by

    async def save(self, user: User) -> None:
        await self._session.merge(UserRow.from_entity(user))

    async def count_active_admins(self) -> int:
        # Lock first: two admins removing each other at once must not both see a second admin.
        await self._session.execute(select(LockRow.name).where(LockRow.name == "admins").with_for_update())
        stmt = select(func.count()).select_from(UserRow).where(UserRow.role == "admin", UserRow.status == "active")
        return int(await self._session.scalar(stmt) or 0)

    async def set_password(self, user_id: str, password_hash: str | None, now: datetime) -> None:
        await self._session.execute(update(UserRow).where(UserRow.id == user_id)
                                    .values(password_hash=password_hash, updated_at=now))


class SqlCompanyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, company_id: str) -> Company | None:
        row = await self._session.get(CompanyRow, company_id)
        return row.to_entity() if row else None

    async def name_taken(self, name: str, *, except_company_id: str | None = None) -> bool:
        stmt = select(CompanyRow.id).where(CompanyRow.name_key == company_name_key(name))
        if except_company_id is not None:
            stmt = stmt.where(CompanyRow.id != except_company_id)
        return await self._session.scalar(stmt.limit(1)) is not None

    async def add(self, company: Company) -> None:
        self._session.add(CompanyRow.from_entity(company))
        await self._session.flush()

    async def save(self, company: Company) -> None:
        await self._session.merge(CompanyRow.from_entity(company))

    async def active_member_count(self, company_id: str) -> int:
        stmt = select(func.count()).select_from(UserRow).where(UserRow.company_id == company_id,
                                                               UserRow.status == "active")
        return int(await self._session.scalar(stmt) or 0)


class SqlRegistrationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, registration: Registration) -> None:
        self._session.add(RegistrationRow.from_entity(registration))
        await self._session.flush()  # in call order: rows have no ORM relationships to sort by

    async def save(self, registration: Registration) -> None:
        await self._session.merge(RegistrationRow.from_entity(registration))

    async def get_by_token_hash(self, token_hash: str) -> Registration | None:
        row = await self._session.scalar(select(RegistrationRow).where(RegistrationRow.token_hash == token_hash))
        return row.to_entity() if row else None

    async def latest_for_user(self, user_id: str) -> Registration | None:
        stmt = (select(RegistrationRow).where(RegistrationRow.user_id == user_id)
                .order_by(RegistrationRow.created_at.desc()).limit(1))
        row = await self._session.scalar(stmt)
        return row.to_entity() if row else None


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, session: Session) -> None:
        await self._session.execute(_INSERT_SESSION, _fields(session))

    async def get(self, session_id: str) -> Session | None:
        # Core, not an ORM load: the refresh path reads a session per request (no identity map needed,
        # nothing here saves a loaded SessionRow back).
        row = (await self._session.execute(_GET_SESSION, {"sid": session_id})).first()
        return Session(**row._mapping) if row is not None else None

    async def get_many(self, session_ids: Sequence[str]) -> list[Session]:
        if not session_ids:
            return []
        rows = await self._session.execute(select(_sessions).where(_sessions.c.id.in_(session_ids)))
        return [Session(**row._mapping) for row in rows]

    async def touch(self, session_id: str, now: datetime) -> None:
        # A Core UPDATE: no ORM synchronisation of loaded objects to pay for.
        await self._session.execute(_TOUCH_SESSION, {"sid": session_id, "now": now})

    async def list_live(self, user_id: str, now: datetime) -> list[SessionView]:
        stmt = (select(SessionRow.id, SessionRow.created_at, SessionRow.last_used_at, SessionRow.expires_at,
                       SessionRow.ip, SessionRow.user_agent)
                .where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None),
                       SessionRow.expires_at > now)
                .order_by(SessionRow.created_at.desc()))
        return [SessionView(*row) for row in await self._session.execute(stmt)]

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        stmt = (update(SessionRow).where(SessionRow.id == session_id, SessionRow.revoked_at.is_(None))
                .values(revoked_at=now, revoke_reason=reason))
        return _rowcount(await self._session.execute(stmt)) == 1

    async def revoke_all(self, user_id: str, now: datetime, reason: str,
                         except_session_id: str | None = None) -> list[str]:
        condition = [SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None), SessionRow.expires_at > now]
        if except_session_id is not None:
            condition.append(SessionRow.id != except_session_id)
        ids = list(await self._session.scalars(select(SessionRow.id).where(*condition)))
        if ids:
            stmt = update(SessionRow).where(SessionRow.id.in_(ids), SessionRow.revoked_at.is_(None))
            await self._session.execute(stmt.values(revoked_at=now, revoke_reason=reason))
        return ids

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        stmt = select(SessionRow.id, SessionRow.revoked_at).where(SessionRow.revoked_at > since)
        return [(sid, at) for sid, at in await self._session.execute(stmt) if at is not None]

    async def revoke_all_in_company(self, company_id: str, now: datetime, reason: str) -> list[str]:
        members = select(UserRow.id).where(UserRow.company_id == company_id)
        condition = [SessionRow.user_id.in_(members), SessionRow.revoked_at.is_(None), SessionRow.expires_at > now]
        ids = list(await self._session.scalars(select(SessionRow.id).where(*condition)))
        if ids:
            stmt = update(SessionRow).where(SessionRow.id.in_(ids), SessionRow.revoked_at.is_(None))
            await self._session.execute(stmt.values(revoked_at=now, revoke_reason=reason))
        return ids

    async def count_live(self, now: datetime) -> int:
        stmt = select(func.count()).select_from(SessionRow).where(SessionRow.revoked_at.is_(None),
                                                                  SessionRow.expires_at > now)
        return int(await self._session.scalar(stmt) or 0)


class SqlRefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # Refresh tokens are only ever handled here, and through Core statements: one round trip each,
    # without the ORM's unit-of-work flush or identity map (a refresh is a hot path, SPEC §3).
    async def add(self, token: RefreshToken) -> None:
        await self._session.execute(_INSERT_REFRESH_TOKEN, _fields(token))

    async def get(self, token_hash: str) -> RefreshToken | None:
        # Always read from the database: after losing a rotation race the row must be read again.
        row = (await self._session.execute(_GET_REFRESH_TOKEN, {"hash": token_hash})).first()
        return RefreshToken(**row._mapping) if row is not None else None

    async def rotate(self, token_hash: str, now: datetime, successor_hash: str, successor_enc: str) -> bool:
        # The conditional UPDATE is the lock: on PostgreSQL a concurrent one waits for this
        # transaction and then matches no row; on SQLite writers are serialised by BEGIN IMMEDIATE.
        params = {"hash": token_hash, "now": now, "successor": successor_hash, "sealed": successor_enc}
        return _rowcount(await self._session.execute(_ROTATE_REFRESH_TOKEN, params)) == 1

    async def erase_successors(self, rotated_before: datetime) -> None:
        await self._session.execute(update(RefreshTokenRow)
                                    .where(RefreshTokenRow.rotated_at < rotated_before,
                                           RefreshTokenRow.successor_enc.is_not(None))
                                    .values(successor_enc=None))


class SqlFailureCounterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str, *, for_update: bool = False) -> FailureCounter:
        if not for_update:  # every login reads its counter: a Core read
            found = (await self._session.execute(_GET_FAILURE_COUNTER, {"key": key})).mappings().first()
            return FailureCounter(**found) if found is not None else FailureCounter(key=key)
        row = await _get_counter_row(self._session, FailureCounterRow, key, for_update)
        return row.to_entity() if row else FailureCounter(key=key)

    async def save(self, counter: FailureCounter) -> None:
        await _upsert(self._session, FailureCounterRow, "key", {
            "key": counter.key, "failures": counter.failures, "level": counter.level,
            "locked_until": counter.locked_until, "last_failure_at": counter.last_failure_at})

    async def clear(self, key: str) -> None:
        await self._session.execute(_CLEAR_FAILURE_COUNTER, {"key": key})


class SqlResendThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str, *, for_update: bool = False) -> ResendThrottle:
        row = await _get_counter_row(self._session, ResendThrottleRow, key, for_update)
        return row.to_entity() if row else ResendThrottle(key=key)

    async def save(self, throttle: ResendThrottle) -> None:
        await _upsert(self._session, ResendThrottleRow, "key", {
            "key": throttle.key, "last_sent_at": throttle.last_sent_at, "count": throttle.count,
            "window_ends_at": throttle.window_ends_at})


class SqlOneTimeTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: OneTimeToken) -> None:
        self._session.add(OneTimeTokenRow(token_hash=token.token_hash, purpose=token.purpose,
                                          user_id=token.user_id, created_at=token.created_at,
                                          expires_at=token.expires_at, used_at=token.used_at))
        await self._session.flush()  # in call order: rows have no ORM relationships to sort by

    async def get(self, token_hash: str) -> OneTimeToken | None:
        row = await self._session.get(OneTimeTokenRow, token_hash)
        return row.to_entity() if row else None

    async def void_for_user(self, user_id: str, purpose: str, now: datetime) -> None:
        await self._session.execute(update(OneTimeTokenRow)
                                    .where(OneTimeTokenRow.user_id == user_id, OneTimeTokenRow.purpose == purpose,
                                           OneTimeTokenRow.used_at.is_(None))
                                    .values(used_at=now))

    async def consume(self, token_hash: str, purposes: Sequence[str], now: datetime) -> OneTimeToken | None:
        stmt = (update(OneTimeTokenRow)
                .where(OneTimeTokenRow.token_hash == token_hash, OneTimeTokenRow.purpose.in_(purposes),
                       OneTimeTokenRow.used_at.is_(None), OneTimeTokenRow.expires_at > now)
                .values(used_at=now))
        if _rowcount(await self._session.execute(stmt)) != 1:
            return None
        row = await self._session.get(OneTimeTokenRow, token_hash, populate_existing=True)
        return row.to_entity() if row else None


class SqlAuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.added = 0

    async def add(self, record: AuditRecord) -> None:
        self.added += 1
        await self._session.execute(_INSERT_AUDIT, _audit_values(record))

    def count_written_elsewhere(self) -> None:
        """A record another repository's statement wrote (a login's), for the commit's hook."""
        self.added += 1


class SqlLoginRepository:
    """LoginRepository. On PostgreSQL a login's writes are one statement: the stamp, as a
    data-modifying CTE, feeds the inserts (and the counter's deletion), which therefore write
    nothing when it matched no active account; one round trip instead of four or five. SQLite
    has no data-modifying CTEs: there they are separate statements in the same transaction."""

    def __init__(self, session: AsyncSession, sessions: SqlSessionRepository,
                 refresh_tokens: SqlRefreshTokenRepository, audit: SqlAuditRepository,
                 failure_counters: SqlFailureCounterRepository) -> None:
        self._session, self._sessions, self._refresh_tokens = session, sessions, refresh_tokens
        self._audit, self._failure_counters = audit, failure_counters

    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        if self._session.get_bind().dialect.name == "postgresql":
            statement, params = login_write(user_id, now, password_hash=password_hash, opened=opened, audit=audit,
                                            clear_failures=clear_failures)
            row = (await self._session.execute(statement, params)).mappings().first()
            if row is None:
                return None
            self._audit.count_written_elsewhere()
            return user_from_row(row)
        stamp = _RECORD_LOGIN if password_hash is None else _RECORD_LOGIN_REHASHED
        row = (await self._session.execute(stamp, _stamp_params(user_id, now, password_hash))).mappings().first()
        if row is None:
            return None
        current = user_from_row(row)
        await self._sessions.add(opened.session)
        if opened.refresh_token is not None:
            await self._refresh_tokens.add(opened.refresh_token)
        await self._audit.add(dataclasses.replace(audit, company_id=current.company_id))
        if clear_failures is not None:
            await self._failure_counters.clear(clear_failures)
        return current


def login_write(user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession, audit: AuditRecord,
                clear_failures: str | None) -> tuple[Select[Any], dict[str, Any]]:
    """LoginRepository.record on PostgreSQL: the one statement and its parameters (also sent by
    fast_logins.AsyncpgLoginStore)."""
    params = _stamp_params(user_id, now, password_hash)
    # The user and the company come from the stamped row (_login_statement).
    params.update(_prefixed("s_", _fields(opened.session), "user_id"),
                  **_prefixed("a_", _audit_values(audit), "company_id"))
    if clear_failures is not None:
        params["clear_key"] = clear_failures
    if opened.refresh_token is not None:
        params.update(_prefixed("r_", _fields(opened.refresh_token), "user_id"))
    statement = _login_statement(password_hash is not None, opened.refresh_token is not None,
                                 clear_failures is not None)
    return statement, params


def _stamp_params(user_id: str, now: datetime, password_hash: str | None) -> dict[str, Any]:
    # Only the parameters of the statement: an UPDATE would also SET any other key naming a column.
    params: dict[str, Any] = {"uid": user_id, "now": now}
    if password_hash is not None:
        params["password_hash"] = password_hash
    return params


def _prefixed(prefix: str, values: dict[str, Any], from_stamped: str) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items() if name != from_stamped}


def _insert_after(stamped: CTE, table: Table, prefix: str, from_stamped: dict[str, ColumnElement[Any]]) -> CTE:
    """INSERT INTO table SELECT <the bound values> FROM stamped: one row if the stamp matched."""
    columns = [column for column in table.c if column.name not in _LINKED_LATER]
    values = [from_stamped.get(column.name, bindparam(prefix + column.name, type_=column.type)) for column in columns]
    return (insert(table).from_select([column.name for column in columns], select(*values).select_from(stamped))
            .cte(prefix + "inserted"))


_LINKED_LATER = frozenset({"seq", "mac"})  # audit columns the chain's sequencer fills after commit


@functools.cache
def _login_statement(rehashed: bool, refresh_token: bool, clear_failures: bool) -> Select[Any]:
    stamped = (_RECORD_LOGIN_REHASHED if rehashed else _RECORD_LOGIN).cte("stamped")
    writes = [_insert_after(stamped, _sessions, "s_", {"user_id": stamped.c.id})]
    if refresh_token:
        writes.append(_insert_after(stamped, _refresh_tokens, "r_", {"user_id": stamped.c.id}))
    writes.append(_insert_after(stamped, _audit_logs, "a_", {"company_id": stamped.c.company_id}))
    if clear_failures:
        writes.append(delete(_failure_counters)
                      .where(_failure_counters.c.key == bindparam("clear_key"), select(stamped.c.id).exists())
                      .cte("cleared"))
    return select(stamped).add_cte(*writes)


class SqlSigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock(self) -> None:
        # A row lock on PostgreSQL; on SQLite the transaction already holds the write lock.
        await self._session.execute(select(LockRow.name).where(LockRow.name == "signing_keys").with_for_update())

    async def list_all(self) -> list[StoredSigningKey]:
        rows = await self._session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))
        return [row.to_entity() for row in rows]

    async def add(self, key: StoredSigningKey) -> None:
        self._session.add(SigningKeyRow(kid=key.kid, alg=key.alg, private_key_enc=key.private_key_enc,
                                        public_jwk=key.public_jwk, created_at=key.created_at,
                                        activates_at=key.activates_at, revoked_at=key.revoked_at))
        await self._session.flush()  # in call order: rows have no ORM relationships to sort by

    async def revoke(self, kid: str, now: datetime) -> bool:
        stmt = (update(SigningKeyRow).where(SigningKeyRow.kid == kid, SigningKeyRow.revoked_at.is_(None))
                .values(revoked_at=now))
        return _rowcount(await self._session.execute(stmt)) == 1


class SqlMfaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace_backup_codes(self, user_id: str, code_hashes: Sequence[str], now: datetime) -> None:
        await self.delete_backup_codes(user_id)
        if code_hashes:
            await self._session.execute(insert(MfaBackupCodeRow).values(
                [{"code_hash": h, "user_id": user_id, "created_at": now} for h in code_hashes]))

    async def delete_backup_codes(self, user_id: str) -> None:
        await self._session.execute(delete(MfaBackupCodeRow).where(MfaBackupCodeRow.user_id == user_id))

    async def use_backup_code(self, user_id: str, code_hash: str, now: datetime) -> bool:
        stmt = (update(MfaBackupCodeRow)
                .where(MfaBackupCodeRow.code_hash == code_hash, MfaBackupCodeRow.user_id == user_id,
                       MfaBackupCodeRow.used_at.is_(None))
                .values(used_at=now))
        return _rowcount(await self._session.execute(stmt)) == 1

    async def accept_totp_step(self, user_id: str, step: int) -> bool:
        stmt = (update(UserRow)
                .where(UserRow.id == user_id,
                       (UserRow.totp_last_step.is_(None)) | (UserRow.totp_last_step < step))
                .values(totp_last_step=step))
        return _rowcount(await self._session.execute(stmt)) == 1

    async def add_challenge(self, challenge: MfaChallenge) -> None:
        await self._session.execute(insert(MfaChallengeRow).values(
            token_hash=challenge.token_hash, user_id=challenge.user_id, created_at=challenge.created_at,
            expires_at=challenge.expires_at, failures=challenge.failures, consumed_at=challenge.consumed_at))

    async def get_challenge(self, token_hash: str) -> MfaChallenge | None:
        row = await self._session.get(MfaChallengeRow, token_hash, populate_existing=True)
        if row is None:
            return None
        return MfaChallenge(token_hash=row.token_hash, user_id=row.user_id, created_at=row.created_at,
                            expires_at=row.expires_at, failures=row.failures, consumed_at=row.consumed_at)

    async def count_challenge_failure(self, token_hash: str) -> int:
        await self._session.execute(update(MfaChallengeRow).where(MfaChallengeRow.token_hash == token_hash)
                                    .values(failures=MfaChallengeRow.failures + 1))
        return int(await self._session.scalar(
            select(MfaChallengeRow.failures).where(MfaChallengeRow.token_hash == token_hash)) or 0)

    async def consume_challenge(self, token_hash: str, now: datetime, max_failures: int) -> bool:
        stmt = (update(MfaChallengeRow)
                .where(MfaChallengeRow.token_hash == token_hash, MfaChallengeRow.consumed_at.is_(None),
                       MfaChallengeRow.expires_at > now, MfaChallengeRow.failures < max_failures)
                .values(consumed_at=now))
        return _rowcount(await self._session.execute(stmt)) == 1

"""LoginRepository.record, the writes of a successful login, on SQLite (statements in one
transaction) and PostgreSQL (one statement): all of them for an active account, none otherwise. The
same through the container's LoginStore (on PostgreSQL asyncpg directly, fast_logins.py), and its
read of the account, the company and the lockout counter."""

from __future__ import annotations

import dataclasses
from datetime import UTC

import pytest
from sqlalchemy import func, select

from auth_service.application.audit import audit_record
from auth_service.application.ports import LoginState, NewSession, PasswordCheck, RequestContext
from auth_service.application.token_pairs import TokenMinter
from auth_service.bootstrap import Container
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company
from auth_service.domain.ids import new_user_id
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.users import Role, Source, User, UserStatus
from auth_service.infrastructure.db.tables import AuditLogRow, RefreshTokenRow, SessionRow
from tests.doubles import FixedClock

CTX = RequestContext(ip="192.0.2.7", user_agent="pytest")
KEY = "lockout:ada"


async def _given(container: Container, clock: FixedClock, *, status: UserStatus = UserStatus.ACTIVE) -> User:
    """Ada, in a company, with two failures counted."""
    now = clock.now()
    first = Company.create("First", now=now)
    user = User(id=new_user_id(), email="ada@example.com", username="ada", password_hash="old-hash", role=Role.USER,
                status=status, source=Source.INTERNAL, created_at=now, updated_at=now, is_verified=True,
                company_id=first.id)
    async with container.uow() as uow:
        await uow.companies.add(first)
        await uow.users.add(user)
        await uow.failure_counters.save(FailureCounter(KEY, failures=2, last_failure_at=now))
        await uow.commit()
    return user


def _opening(container: Container, user: User, clock: FixedClock, *, refresh_token: bool = True) -> NewSession:
    minter = TokenMinter(container.access_tokens, container.secrets, container.config, container.metrics)
    opening = minter.new_session(user.id, CTX, clock.now(), PasswordCheck(matches=True))
    return opening if refresh_token else dataclasses.replace(opening, refresh_token=None)


def _audit(opening: NewSession, user: User, clock: FixedClock) -> AuditRecord:
    return audit_record("auth.login_succeeded", CTX, clock.now(), actor_id=user.id, target_type="session",
                        target_id=opening.session.id, company_id=user.company_id, method="password")


@pytest.fixture(params=["unit_of_work", "login_store"])
def through(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _record(container: Container, user: User, clock: FixedClock, opening: NewSession, through: str, *,
                  audit: AuditRecord | None = None, password_hash: str | None = None,
                  clear_failures: str | None = None) -> User | None:
    audit = audit or _audit(opening, user, clock)
    if through == "login_store":
        return await container.login_store.record(user.id, clock.now(), password_hash=password_hash,
                                                  opened=opening, audit=audit, clear_failures=clear_failures)
    async with container.uow() as uow:
        current = await uow.logins.record(user.id, clock.now(), password_hash=password_hash, opened=opening,
                                          audit=audit, clear_failures=clear_failures)
        await uow.commit()
    return current


async def _counts(container: Container) -> tuple[int, ...]:
    """Rows in sessions, refresh_tokens and audit_logs."""
    async with container.engine.connect() as connection:
        return tuple([(await connection.execute(select(func.count()).select_from(table))).scalar_one()
                      for table in (SessionRow, RefreshTokenRow, AuditLogRow)])


async def test_an_active_account_is_stamped_and_everything_is_written(container: Container, clock: FixedClock,
                                                                      through: str) -> None:
    ada = await _given(container, clock)
    opening = _opening(container, ada, clock)
    clock.advance(5)

    current = await _record(container, ada, clock, opening, through, password_hash="new-hash", clear_failures=KEY)

    assert current is not None and current.id == ada.id
    assert current.last_login_at == clock.now() and current.password_hash == "new-hash"
    assert opening.refresh_token is not None
    async with container.uow() as uow:
        stored = await uow.users.get(ada.id)
        session = await uow.sessions.get(opening.session.id)
        token = await uow.refresh_tokens.get(opening.refresh_token.token_hash)
        counter = await uow.failure_counters.get(KEY)
    assert stored == current
    assert session == opening.session
    assert token == opening.refresh_token
    assert counter.failures == 0 and counter.last_failure_at is None
    assert await _counts(container) == (1, 1, 1)


async def test_the_audit_record_names_the_company_of_the_account_as_stamped(container: Container, clock: FixedClock,
                                                                           through: str) -> None:
    ada = await _given(container, clock)
    opening = _opening(container, ada, clock)
    record = _audit(opening, ada, clock)  # made with the account as read before the hash was checked
    async with container.uow() as uow:  # meanwhile an admin takes Ada out of her company
        moved = await uow.users.get(ada.id)
        assert moved is not None and moved.company_id == ada.company_id
        moved.company_id = None
        await uow.users.save(moved)
        await uow.commit()

    current = await _record(container, ada, clock, opening, through, audit=record)

    assert current is not None and current.company_id is None
    async with container.engine.connect() as connection:
        row = (await connection.execute(select(AuditLogRow.company_id, AuditLogRow.actor_id, AuditLogRow.target_id)
                                        .where(AuditLogRow.id == record.id))).one()
    assert tuple(row) == (None, ada.id, opening.session.id)


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED, UserStatus.PENDING])
async def test_an_account_no_longer_active_gets_nothing_written(container: Container, clock: FixedClock,
                                                                status: UserStatus, through: str) -> None:
    ada = await _given(container, clock, status=status)
    opening = _opening(container, ada, clock)
    current = await _record(container, ada, clock, opening, through, password_hash="new-hash", clear_failures=KEY)

    assert current is None
    async with container.uow() as uow:
        stored = await uow.users.get(ada.id)
        counter = await uow.failure_counters.get(KEY)
    assert stored is not None and stored.last_login_at is None and stored.password_hash == "old-hash"
    assert counter.failures == 2
    assert await _counts(container) == (0, 0, 0)


async def test_an_unknown_account_gets_nothing_written(container: Container, clock: FixedClock,
                                                       through: str) -> None:
    ghost = User(id=new_user_id(), email="ghost@example.com", username="ghost", password_hash=None, role=Role.USER,
                 status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=clock.now(), updated_at=clock.now())
    opening = _opening(container, ghost, clock)
    current = await _record(container, ghost, clock, opening, through)

    assert current is None
    assert await _counts(container) == (0, 0, 0)


async def test_a_session_whose_refresh_tokens_the_provider_keeps_writes_no_refresh_token(
        container: Container, clock: FixedClock, through: str) -> None:
    ada = await _given(container, clock)
    opening = _opening(container, ada, clock, refresh_token=False)
    current = await _record(container, ada, clock, opening, through)

    assert current is not None
    async with container.uow() as uow:
        counter = await uow.failure_counters.get(KEY)
    assert counter.failures == 2  # not asked to clear it
    assert await _counts(container) == (1, 0, 1)


async def test_without_a_new_hash_the_stored_one_is_kept(container: Container, clock: FixedClock,
                                                         through: str) -> None:
    ada = await _given(container, clock)

    current = await _record(container, ada, clock, _opening(container, ada, clock), through)

    async with container.uow() as uow:
        stored = await uow.users.get(ada.id)
    assert current is not None and current.password_hash == "old-hash"
    assert stored is not None and stored.password_hash == "old-hash" and stored.last_login_at == clock.now()


async def test_the_login_store_reads_what_the_repositories_read(container: Container, clock: FixedClock) -> None:
    ada = await _given(container, clock)
    now = clock.now()
    loner = User(id=new_user_id(), email="lin@example.com", username="lin", password_hash="h", role=Role.USER,
                 status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=now, updated_at=now,
                 profile={"a": [1, "x"]}, last_login_at=now)
    async with container.uow() as uow:
        await uow.users.add(loner)
        await uow.commit()

    for email, key in ((ada.email, KEY), (loner.email, "lockout:lin"), ("nobody@example.com", "lockout:nobody")):
        state = await container.login_store.read(email, key)
        async with container.uow() as uow:
            user = await uow.users.get_by_email(email)
            company = await uow.companies.get(user.company_id) if user and user.company_id else None
            counter = await uow.failure_counters.get(key)
        assert state == LoginState(counter, user, company)
    ada_state = await container.login_store.read(ada.email, KEY)
    assert ada_state.user is not None and ada_state.company is not None and ada_state.counter.failures == 2
    assert ada_state.user.created_at.tzinfo is UTC and ada_state.company.created_at.tzinfo is UTC
    assert (await container.login_store.read("nobody@example.com", "k")) == LoginState(FailureCounter("k"), None, None)


async def test_a_login_written_through_the_login_store_joins_the_audit_chain(container: Container,
                                                                            clock: FixedClock) -> None:
    ada = await _given(container, clock)
    opening = _opening(container, ada, clock)
    record = dataclasses.replace(_audit(opening, ada, clock), details={"method": "password", "n": [1, {"b": None}]})

    assert await _record(container, ada, clock, opening, "login_store", audit=record) is not None

    await container.audit_chain.link_pending()  # unless the running linker already has
    report = await container.audit_chain.verify()
    assert report.ok and report.checked == 1
    async with container.engine.connect() as connection:
        details = (await connection.execute(select(AuditLogRow.details).where(AuditLogRow.id == record.id))).scalar()
    assert details == {"method": "password", "n": [1, {"b": None}]}

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.change_password import ChangePassword, ChangePasswordHandler
from auth_service.application.commands.log_in import LogIn, LogInHandler
from auth_service.application.errors import (
    AccountLockedError,
    InvalidCredentialsError,
    InvalidTokenError,
    WrongCurrentPasswordError,
)
from auth_service.application.lockout import LockoutGuard
from auth_service.application.ports import IssuedTokens, RequestContext
from auth_service.domain.errors import WeakPasswordError
from auth_service.domain.principal import Principal
from auth_service.domain.users import UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import FakeIdentityProvider, FakePolicy, FakeRevocationList, FakeUnitOfWork, fullwidth

OLD = "correct horse battery"
NEW = "battery staple horse"
WRONG = "wrong horse battery"
COMPANY = "CMP-aaaaaaaaaaaaaaaa"


@pytest.fixture
def change(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
           lockout: LockoutGuard,
           revocations: FakeRevocationList, clock: FixedClock) -> ChangePasswordHandler:
    return ChangePasswordHandler(uow_factory, identity, policy, lockout, revocations, clock)


@pytest.fixture
async def two_sessions(given_user: GivenUser, sign_in: SignIn) -> tuple[IssuedTokens, Principal]:
    """Ada, signed in on another device and on this one; returns the other one's tokens and this principal."""
    given_user("ada@example.com", OLD, company_id=COMPANY)
    other, _ = await sign_in("ada@example.com", OLD)
    _, me = await sign_in("ada@example.com", OLD)
    return other, me


async def test_changing_the_password_keeps_this_session_and_ends_the_others(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], uow: FakeUnitOfWork,
        revocations: FakeRevocationList) -> None:
    other, me = two_sessions

    await change(ChangePassword(me, OLD, NEW))

    assert uow.committed.sessions[me.session_id].revoked_at is None
    assert uow.committed.sessions[other.session_id].revoke_reason == "password_changed"
    assert revocations.revoked == {other.session_id}


async def test_the_new_password_replaces_the_old_one(change: ChangePasswordHandler,
                                                     two_sessions: tuple[IssuedTokens, Principal],
                                                     log_in: LogInHandler, uow: FakeUnitOfWork) -> None:
    _, me = two_sessions

    await change(ChangePassword(me, OLD, NEW))

    assert uow.committed.users[me.user_id].password_hash == f"hashed:{NEW}"
    with pytest.raises(InvalidCredentialsError):
        await log_in(LogIn("ada@example.com", OLD))
    await log_in(LogIn("ada@example.com", NEW))


async def test_a_change_sends_a_security_alert_and_is_audited_without_secrets(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], uow: FakeUnitOfWork,
        ctx: RequestContext) -> None:
    _, me = two_sessions

    await change(ChangePassword(me, OLD, NEW, ctx=ctx))

    assert len(uow.committed.mail_to("ada@example.com", "Security alert")) == 1
    record = uow.committed.one("auth.password_changed")
    assert (record.outcome, record.actor_id, record.target_type, record.target_id) == (
        "success", me.user_id, "user", me.user_id)
    assert (record.company_id, record.details) == (COMPANY, {"sessions_revoked": 1})
    assert not uow.committed.mentions(OLD) and not uow.committed.mentions(NEW)


async def test_a_wrong_current_password_is_refused_counted_and_audited(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], uow: FakeUnitOfWork,
        lockout: LockoutGuard) -> None:
    other, me = two_sessions

    with pytest.raises(WrongCurrentPasswordError):
        await change(ChangePassword(me, WRONG, NEW))

    assert uow.committed.users[me.user_id].password_hash == f"hashed:{OLD}"
    assert uow.committed.sessions[other.session_id].revoked_at is None
    assert uow.committed.failure_counters[lockout.key("ada@example.com")].failures == 1
    record = uow.committed.one("auth.password_changed")
    assert (record.outcome, record.actor_id, record.details) == ("failure", me.user_id,
                                                                 {"reason": "invalid_credentials"})
    assert not uow.committed.mentions(WRONG)
    assert uow.committed.mail_to("ada@example.com", "Security alert") == []


async def test_wrong_current_passwords_share_the_lockout_with_login(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], log_in: LogInHandler) -> None:
    _, me = two_sessions
    for _ in range(3):
        with pytest.raises(InvalidCredentialsError):
            await log_in(LogIn("ada@example.com", WRONG))
    for _ in range(2):
        with pytest.raises(WrongCurrentPasswordError):
            await change(ChangePassword(me, WRONG, NEW))

    with pytest.raises(AccountLockedError) as at_login:
        await log_in(LogIn("ada@example.com", OLD))
    with pytest.raises(AccountLockedError) as at_change:
        await change(ChangePassword(me, OLD, NEW))  # even the right password, during the lock

    assert at_login.value.retry_after == at_change.value.retry_after == 60


async def test_a_weak_new_password_is_refused_and_changes_nothing(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], uow: FakeUnitOfWork,
        policy: FakePolicy) -> None:
    _, me = two_sessions
    commits = uow.commits
    policy.weak = ["too_short"]

    with pytest.raises(WeakPasswordError):
        await change(ChangePassword(me, OLD, "short"))

    assert uow.commits == commits
    assert uow.committed.users[me.user_id].password_hash == f"hashed:{OLD}"


async def test_both_passwords_are_nfkc_normalised(change: ChangePasswordHandler,
                                                  two_sessions: tuple[IssuedTokens, Principal],
                                                  uow: FakeUnitOfWork) -> None:
    _, me = two_sessions

    await change(ChangePassword(me, fullwidth("correct horse battery"), fullwidth("battery staple horse")))

    assert uow.committed.users[me.user_id].password_hash == f"hashed:{NEW}"


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED])
async def test_an_account_no_longer_active_cannot_change_its_password(
        change: ChangePasswordHandler, two_sessions: tuple[IssuedTokens, Principal], uow: FakeUnitOfWork,
        status: UserStatus) -> None:
    _, me = two_sessions
    uow.committed.users[me.user_id].status = status

    with pytest.raises(InvalidTokenError):
        await change(ChangePassword(me, OLD, NEW))

    assert uow.committed.users[me.user_id].password_hash == f"hashed:{OLD}"

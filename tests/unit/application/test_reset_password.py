from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from auth_service.application.commands.log_in import LogIn, LogInHandler
from auth_service.application.commands.reset_password import (
    ForgotPassword,
    ForgotPasswordHandler,
    ResetPassword,
    ResetPasswordHandler,
)
from auth_service.application.config import AuthConfig
from auth_service.application.errors import AccountLockedError, InvalidCredentialsError, InvalidOneTimeTokenError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.ports import RequestContext
from auth_service.domain.errors import BreachedPasswordError, WeakPasswordError
from auth_service.domain.users import UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import (
    FakeIdentityProvider,
    FakePolicy,
    FakeRateLimiter,
    FakeRevocationList,
    FakeSecrets,
    FakeUnitOfWork,
    fullwidth,
    link_token,
)

OLD = "correct horse battery"
NEW = "battery staple horse"
HOUR = 3_600
DAY = 86_400


@pytest.fixture
def forgot(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
           config: AuthConfig) -> ForgotPasswordHandler:
    return ForgotPasswordHandler(uow_factory, secrets, clock, config, FakeRateLimiter())


@pytest.fixture
def reset(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
          secrets: FakeSecrets,
          lockout: LockoutGuard, revocations: FakeRevocationList, clock: FixedClock) -> ResetPasswordHandler:
    return ResetPasswordHandler(uow_factory, identity, policy, secrets, lockout, revocations, clock)


async def reset_token(forgot: ForgotPasswordHandler, uow: FakeUnitOfWork, email: str = "ada@example.com") -> str:
    await forgot(ForgotPassword(email))
    return link_token(uow.committed.mail_to(email, "Reset your password")[-1])


async def test_forgot_password_mails_a_one_hour_reset_link_to_an_active_account(
        forgot: ForgotPasswordHandler, given_user: GivenUser, uow: FakeUnitOfWork, clock: FixedClock,
        ctx: RequestContext) -> None:
    ada = given_user()

    await forgot(ForgotPassword(" ADA@example.com", ctx=ctx))

    (message,) = uow.committed.mail_to("ada@example.com", "Reset your password")
    token = link_token(message)
    assert f"https://app.example.com/reset-password#token={token}" in message.body.splitlines()
    (stored,) = uow.committed.one_time_tokens.values()
    assert (stored.purpose, stored.user_id, stored.expires_at) == ("reset", ada.id, clock.now() + timedelta(hours=1))
    assert stored.token_hash != token
    record = uow.committed.one("auth.password_reset_requested")
    assert (record.actor_id, record.target_type, record.target_id, record.ip) == (ada.id, "user", ada.id, "203.0.113.7")
    assert not uow.committed.mentions(token)


async def test_forgot_password_for_an_unknown_email_does_nothing_visible(forgot: ForgotPasswordHandler,
                                                                         uow: FakeUnitOfWork) -> None:
    await forgot(ForgotPassword("nobody@example.com"))

    assert (uow.commits, uow.committed.outbox, uow.committed.audit) == (0, [], [])


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED, UserStatus.EXPIRED])
async def test_forgot_password_ignores_accounts_that_cannot_sign_in(forgot: ForgotPasswordHandler,
                                                                   given_user: GivenUser, uow: FakeUnitOfWork,
                                                                   status: UserStatus) -> None:
    given_user(status=status)

    await forgot(ForgotPassword("ada@example.com"))

    assert (uow.commits, uow.committed.outbox) == (0, [])


async def test_forgot_password_serves_a_pending_account_only_inside_its_window(
        forgot: ForgotPasswordHandler, given_user: GivenUser, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    given_user(status=UserStatus.PENDING)
    await forgot(ForgotPassword("ada@example.com"))
    clock.advance(DAY)

    await forgot(ForgotPassword("ada@example.com"))

    assert len(uow.committed.mail_to("ada@example.com", "Reset your password")) == 1


async def test_a_newer_request_voids_older_tokens(forgot: ForgotPasswordHandler, reset: ResetPasswordHandler,
                                                  given_user: GivenUser, uow: FakeUnitOfWork) -> None:
    given_user()
    older = await reset_token(forgot, uow)
    newer = await reset_token(forgot, uow)

    with pytest.raises(InvalidOneTimeTokenError):
        await reset(ResetPassword(older, NEW))

    await reset(ResetPassword(newer, NEW))


async def test_a_reset_sets_the_new_password_and_ends_every_session(
        forgot: ForgotPasswordHandler, reset: ResetPasswordHandler, given_user: GivenUser, sign_in: SignIn,
        log_in: LogInHandler, uow: FakeUnitOfWork, revocations: FakeRevocationList) -> None:
    ada = given_user("ada@example.com", OLD)
    first, _ = await sign_in("ada@example.com", OLD)
    second, _ = await sign_in("ada@example.com", OLD)
    token = await reset_token(forgot, uow)

    await reset(ResetPassword(token, NEW))

    assert uow.committed.users[ada.id].password_hash == f"hashed:{NEW}"
    assert revocations.revoked == {first.session_id, second.session_id}
    assert all(s.revoke_reason == "password_reset" for s in uow.committed.sessions.values())
    with pytest.raises(InvalidCredentialsError):
        await log_in(LogIn("ada@example.com", OLD))
    assert (await log_in(LogIn("ada@example.com", NEW))).user.id == ada.id


async def test_a_reset_sends_a_security_alert_and_is_audited_without_secrets(
        forgot: ForgotPasswordHandler, reset: ResetPasswordHandler, given_user: GivenUser, sign_in: SignIn,
        uow: FakeUnitOfWork) -> None:
    ada = given_user("ada@example.com", OLD)
    await sign_in("ada@example.com", OLD)
    token = await reset_token(forgot, uow)

    await reset(ResetPassword(token, NEW))

    assert len(uow.committed.mail_to("ada@example.com", "Security alert")) == 1
    record = uow.committed.one("auth.password_reset")
    assert (record.actor_id, record.target_type, record.target_id) == (ada.id, "user", ada.id)
    assert record.details == {"via": "reset", "sessions_revoked": 1}
    for secret in (OLD, NEW, token):
        assert not uow.committed.mentions(secret)


async def test_a_reset_clears_the_lockout_counter(forgot: ForgotPasswordHandler, reset: ResetPasswordHandler,
                                                  given_user: GivenUser, log_in: LogInHandler,
                                                  uow: FakeUnitOfWork) -> None:
    given_user("ada@example.com", OLD)
    for _ in range(5):
        with pytest.raises(InvalidCredentialsError):
            await log_in(LogIn("ada@example.com", "wrong horse battery"))
    with pytest.raises(AccountLockedError):
        await log_in(LogIn("ada@example.com", OLD))
    token = await reset_token(forgot, uow)

    await reset(ResetPassword(token, NEW))

    assert (await log_in(LogIn("ada@example.com", NEW))).session_id


async def test_a_reset_verifies_a_pending_account(forgot: ForgotPasswordHandler, reset: ResetPasswordHandler,
                                                  given_user: GivenUser, uow: FakeUnitOfWork) -> None:
    ada = given_user(status=UserStatus.PENDING)
    token = await reset_token(forgot, uow)

    await reset(ResetPassword(token, NEW))

    user = uow.committed.users[ada.id]
    assert (user.status, user.is_verified) == (UserStatus.ACTIVE, True)


async def test_a_used_token_is_invalid(forgot: ForgotPasswordHandler, reset: ResetPasswordHandler,
                                       given_user: GivenUser, uow: FakeUnitOfWork) -> None:
    ada = given_user()
    token = await reset_token(forgot, uow)
    await reset(ResetPassword(token, NEW))

    with pytest.raises(InvalidOneTimeTokenError):
        await reset(ResetPassword(token, "another good password"))

    assert uow.committed.users[ada.id].password_hash == f"hashed:{NEW}"


async def test_an_expired_token_is_invalid(forgot: ForgotPasswordHandler, reset: ResetPasswordHandler,
                                           given_user: GivenUser, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    given_user()
    token = await reset_token(forgot, uow)
    clock.advance(HOUR)

    with pytest.raises(InvalidOneTimeTokenError):
        await reset(ResetPassword(token, NEW))


async def test_an_unknown_token_is_invalid(reset: ResetPasswordHandler, uow: FakeUnitOfWork) -> None:
    with pytest.raises(InvalidOneTimeTokenError):
        await reset(ResetPassword("tok-404", NEW))

    assert uow.commits == 0


@pytest.mark.parametrize("refusal", [{"weak": ["too_short"]}, {"breached": True}])
async def test_a_refused_password_does_not_consume_the_token(
        forgot: ForgotPasswordHandler, reset: ResetPasswordHandler, given_user: GivenUser, uow: FakeUnitOfWork,
        policy: FakePolicy, refusal: dict[str, object]) -> None:
    ada = given_user("ada@example.com", OLD)
    token = await reset_token(forgot, uow)
    commits = uow.commits
    for name, value in refusal.items():
        setattr(policy, name, value)

    with pytest.raises((WeakPasswordError, BreachedPasswordError)):
        await reset(ResetPassword(token, "short"))

    assert uow.commits == commits
    assert uow.committed.users[ada.id].password_hash == f"hashed:{OLD}"
    (policy.weak, policy.breached) = ([], False)
    await reset(ResetPassword(token, NEW))  # the same link still works
    assert uow.committed.users[ada.id].password_hash == f"hashed:{NEW}"


async def test_the_new_password_is_checked_nfkc_normalised_against_the_user_s_own_words(
        forgot: ForgotPasswordHandler, reset: ResetPasswordHandler, given_user: GivenUser, uow: FakeUnitOfWork,
        policy: FakePolicy) -> None:
    ada = given_user("ada@example.com", username="countess", first_name="Ada", last_name="Lovelace")
    token = await reset_token(forgot, uow)

    await reset(ResetPassword(token, fullwidth("battery staple horse")))

    assert policy.checked == [(NEW, ["ada@example.com", "countess", "Ada", "Lovelace"])]
    assert uow.committed.users[ada.id].password_hash == f"hashed:{NEW}"


async def test_a_reset_for_an_account_disabled_since_the_request_is_refused(
        forgot: ForgotPasswordHandler, reset: ResetPasswordHandler, given_user: GivenUser,
        uow: FakeUnitOfWork) -> None:
    ada = given_user("ada@example.com", OLD)
    token = await reset_token(forgot, uow)
    uow.committed.users[ada.id].status = UserStatus.DISABLED

    with pytest.raises(InvalidOneTimeTokenError):
        await reset(ResetPassword(token, NEW))

    assert uow.committed.users[ada.id].password_hash == f"hashed:{OLD}"

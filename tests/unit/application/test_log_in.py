from __future__ import annotations

import pytest

from auth_service.application.commands.log_in import LogIn, LogInHandler
from auth_service.application.errors import (
    AccountDisabledError,
    AccountLockedError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    MfaRequiredError,
)
from auth_service.application.lockout import LockoutGuard
from auth_service.application.ports import RequestContext
from auth_service.domain.lockout import FailureCounter
from auth_service.domain.users import Role, UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser
from tests.unit.fakes import FakeAccessTokens, FakeHasher, FakeMetrics, FakeSecrets, FakeUnitOfWork, fullwidth

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
DAY = 86_400


async def fail(log_in: LogInHandler, email: str = "ada@example.com", times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentialsError):
            await log_in(LogIn(email, WRONG))


async def test_a_correct_password_opens_a_session_and_issues_a_token_pair(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, access_tokens: FakeAccessTokens,
        metrics: FakeMetrics) -> None:
    ada = given_user("ada@example.com", PASSWORD)

    tokens = await log_in(LogIn("ada@example.com", PASSWORD))

    session = uow.committed.sessions[tokens.session_id]
    assert session.user_id == ada.id and session.revoked_at is None
    (stored,) = uow.committed.refresh_tokens.values()
    assert stored.session_id == tokens.session_id and stored.token_hash != tokens.refresh_token
    claims = access_tokens.claims(tokens.access_token)
    assert (claims["sub"], claims["sid"], claims["roles"]) == (ada.id, tokens.session_id, ["user"])
    assert (tokens.expires_in, tokens.refresh_expires_in) == (900, 7 * DAY)
    assert tokens.user.id == ada.id
    assert metrics.counts == {"login:success": 1, "token_issued": 1}
    assert uow.commits == 1


async def test_success_records_last_login_at(log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork,
                                             clock: FixedClock) -> None:
    ada = given_user()

    tokens = await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.users[ada.id].last_login_at == clock.now()
    assert tokens.user.last_login_at == clock.now()


@pytest.mark.parametrize(("password_grant", "method"), [(False, "password"), (True, "password_grant")])
async def test_success_is_audited_against_the_session(log_in: LogInHandler, given_user: GivenUser,
                                                      uow: FakeUnitOfWork, ctx: RequestContext,
                                                      password_grant: bool, method: str) -> None:
    ada = given_user(company_id="CMP-aaaaaaaaaaaaaaaa")

    tokens = await log_in(LogIn("ada@example.com", PASSWORD, ctx=ctx, password_grant=password_grant))

    record = uow.committed.one("auth.login_succeeded")
    assert (record.outcome, record.actor_id, record.company_id) == ("success", ada.id, "CMP-aaaaaaaaaaaaaaaa")
    assert (record.target_type, record.target_id) == ("session", tokens.session_id)
    assert (record.ip, record.trace_id) == ("203.0.113.7", "trace-1")
    assert record.details == {"method": method}
    assert not uow.committed.mentions(PASSWORD)


async def test_the_email_is_trimmed_and_compared_case_insensitively(log_in: LogInHandler,
                                                                    given_user: GivenUser) -> None:
    ada = given_user("ada@example.com")

    tokens = await log_in(LogIn("  ADA@Example.com ", PASSWORD))

    assert tokens.user.id == ada.id


async def test_the_password_is_nfkc_normalised_before_it_is_checked(log_in: LogInHandler,
                                                                    given_user: GivenUser) -> None:
    given_user("ada@example.com", "correct horse battery")

    tokens = await log_in(LogIn("ada@example.com", fullwidth("correct horse battery")))

    assert tokens.session_id.startswith("SES-")


async def test_an_unknown_email_burns_a_hash_and_is_refused_like_a_wrong_password(
        log_in: LogInHandler, given_user: GivenUser, hasher: FakeHasher, metrics: FakeMetrics) -> None:
    given_user("ada@example.com")

    with pytest.raises(InvalidCredentialsError) as unknown:
        await log_in(LogIn("nobody@example.com", PASSWORD))
    with pytest.raises(InvalidCredentialsError) as wrong:
        await log_in(LogIn("ada@example.com", WRONG))

    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)
    assert (hasher.burns, hasher.verifications) == (1, 1)
    assert metrics.counts["login:failure"] == 2


async def test_a_failed_login_for_an_unknown_email_is_committed_with_no_actor_or_target(
        log_in: LogInHandler, uow: FakeUnitOfWork) -> None:
    with pytest.raises(InvalidCredentialsError):
        await log_in(LogIn("nobody@example.com", PASSWORD))

    record = uow.committed.one("auth.login_failed")
    assert (record.outcome, record.actor_id, record.target_type, record.target_id) == ("failure", None, None, None)
    assert record.details["reason"] == "invalid_credentials"
    assert not uow.committed.mentions(PASSWORD)
    assert uow.commits == 1


@pytest.mark.parametrize("secrets", [FakeSecrets(one_way=True)])  # digests that hide what they digest
async def test_a_failed_login_for_an_unknown_email_keeps_a_keyed_identifier_never_the_typed_text(
        log_in: LogInHandler, lockout: LockoutGuard, uow: FakeUnitOfWork) -> None:
    typed = "my secret password typed in the email field"

    with pytest.raises(InvalidCredentialsError):
        await log_in(LogIn(typed, PASSWORD))

    record = uow.committed.one("auth.login_failed")
    assert record.details == {"reason": "invalid_credentials", "identifier": lockout.identifier(typed)}
    assert not uow.committed.mentions(typed)


async def test_a_wrong_password_is_refused_and_the_failure_is_committed(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, lockout: LockoutGuard) -> None:
    ada = given_user(company_id="CMP-aaaaaaaaaaaaaaaa")

    await fail(log_in)

    record = uow.committed.one("auth.login_failed")
    assert (record.outcome, record.actor_id, record.company_id) == ("failure", ada.id, "CMP-aaaaaaaaaaaaaaaa")
    assert (record.target_type, record.target_id) == ("user", ada.id)
    assert record.details == {"reason": "invalid_credentials"}
    assert not uow.committed.mentions(WRONG)
    assert uow.committed.failure_counters[lockout.key("ada@example.com")].failures == 1
    assert uow.committed.sessions == {}


async def test_the_fifth_failure_is_answered_normally_then_even_the_right_password_is_locked_out(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, hasher: FakeHasher) -> None:
    given_user()
    await fail(log_in, times=5)

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("ada@example.com", PASSWORD))

    assert locked.value.retry_after == 60
    assert hasher.verifications == 5  # an attempt during the lock is not checked
    assert len(uow.committed.audit_of("auth.account_locked")) == 1
    assert uow.committed.sessions == {}


async def test_an_unknown_email_is_locked_out_like_a_known_one(log_in: LogInHandler, hasher: FakeHasher) -> None:
    await fail(log_in, "nobody@example.com", times=5)

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("nobody@example.com", PASSWORD))

    assert locked.value.retry_after == 60
    assert hasher.burns == 5


@pytest.mark.parametrize("secrets", [FakeSecrets(one_way=True)])
async def test_a_lock_is_audited_once_with_an_identifier_and_no_email_text(log_in: LogInHandler,
                                                                            uow: FakeUnitOfWork,
                                                                            lockout: LockoutGuard,
                                                                            clock: FixedClock) -> None:
    await fail(log_in, "nobody@example.com", times=5)
    clock.advance(30)

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("nobody@example.com", PASSWORD))

    assert locked.value.retry_after == 30  # attempts during the lock do not extend it
    record = uow.committed.one("auth.account_locked")
    assert (record.outcome, record.actor_id) == ("failure", None)
    assert record.details == {"locked_seconds": 60, "identifier": lockout.identifier("nobody@example.com")}
    assert "nobody" not in repr(record)
    assert len(uow.committed.audit_of("auth.login_failed")) == 5


async def test_a_failure_after_a_lock_has_expired_locks_again_for_twice_as_long(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    given_user()
    await fail(log_in, times=5)
    clock.advance(60)

    await fail(log_in)  # answered normally, but it locks again

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("ada@example.com", PASSWORD))
    assert locked.value.retry_after == 120
    assert len(uow.committed.audit_of("auth.account_locked")) == 2


async def test_a_failure_that_races_a_new_lock_is_recorded_but_does_not_extend_it(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, hasher: FakeHasher) -> None:
    given_user()
    await fail(log_in, times=4)

    async def another_request_fails_and_locks() -> None:
        await fail(log_in)  # the 5th failure, while this request's password is still being checked

    hasher.while_verifying(another_request_fails_and_locks)
    await fail(log_in)  # checked before the lock, counted after it

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("ada@example.com", PASSWORD))
    assert locked.value.retry_after == 60
    assert len(uow.committed.audit_of("auth.account_locked")) == 1
    assert len(uow.committed.audit_of("auth.login_failed")) == 6


async def test_a_successful_login_clears_the_counter_and_the_doubling(log_in: LogInHandler, given_user: GivenUser,
                                                                      clock: FixedClock) -> None:
    given_user()
    await fail(log_in, times=5)
    clock.advance(60)
    await log_in(LogIn("ada@example.com", PASSWORD))

    await fail(log_in, times=4)
    await log_in(LogIn("ada@example.com", PASSWORD))  # four failures after a clear do not lock
    await fail(log_in, times=5)

    with pytest.raises(AccountLockedError) as locked:
        await log_in(LogIn("ada@example.com", PASSWORD))
    assert locked.value.retry_after == 60  # the base again, not twice it


async def test_a_login_without_failures_writes_no_counter_and_one_counted_meanwhile_stays(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, hasher: FakeHasher,
        lockout: LockoutGuard, clock: FixedClock) -> None:
    given_user()
    key = lockout.key("ada@example.com")

    async def a_failure_elsewhere() -> None:  # another client's wrong password, committed meanwhile
        uow.committed.failure_counters[key] = FailureCounter(key, failures=1, last_failure_at=clock.now())

    hasher.while_verifying(a_failure_elsewhere)
    await log_in(LogIn("ada@example.com", PASSWORD))

    # The counter was empty when this login began: it is not written, so that failure stays
    # counted, as if it had come just after this success.
    assert uow.committed.failure_counters[key].failures == 1


@pytest.mark.parametrize("status", [UserStatus.PENDING, UserStatus.EXPIRED])
async def test_an_unverified_account_is_told_so_only_after_the_right_password(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, status: UserStatus) -> None:
    ada = given_user(status=status)
    await fail(log_in)

    with pytest.raises(EmailNotVerifiedError):
        await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.sessions == {}
    reasons = [(r.actor_id, r.details["reason"]) for r in uow.committed.audit_of("auth.login_failed")]
    assert reasons == [(ada.id, "invalid_credentials"), (ada.id, "email_not_verified")]


async def test_a_pending_account_past_its_window_is_told_to_verify_too(log_in: LogInHandler, given_user: GivenUser,
                                                                       clock: FixedClock) -> None:
    given_user(status=UserStatus.PENDING)
    clock.advance(DAY)

    with pytest.raises(EmailNotVerifiedError):
        await log_in(LogIn("ada@example.com", PASSWORD))


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED])
async def test_a_disabled_or_deleted_account_is_refused_only_after_the_right_password(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, status: UserStatus) -> None:
    given_user(status=status)
    await fail(log_in)

    with pytest.raises(AccountDisabledError):
        await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.sessions == {}
    assert [r.details["reason"] for r in uow.committed.audit_of("auth.login_failed")] == [
        "invalid_credentials", "account_disabled"]


async def test_a_deactivation_while_the_password_is_checked_wins(log_in: LogInHandler, given_user: GivenUser,
                                                                 uow: FakeUnitOfWork, hasher: FakeHasher) -> None:
    ada = given_user()

    async def admin_disables_ada() -> None:
        uow.committed.users[ada.id].status = UserStatus.DISABLED

    hasher.while_verifying(admin_disables_ada)

    with pytest.raises(AccountDisabledError):
        await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.sessions == {}
    assert uow.committed.users[ada.id].last_login_at is None


async def test_a_role_change_while_the_password_is_checked_is_in_the_new_token(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork, hasher: FakeHasher,
        access_tokens: FakeAccessTokens) -> None:
    ada = given_user()

    async def admin_promotes_ada() -> None:
        uow.committed.users[ada.id].role = Role.OPERATOR

    hasher.while_verifying(admin_promotes_ada)

    tokens = await log_in(LogIn("ada@example.com", PASSWORD))

    assert access_tokens.claims(tokens.access_token)["roles"] == ["operator"]
    assert uow.committed.users[ada.id].role is Role.OPERATOR  # the login did not write the row back


async def test_a_stale_hash_is_upgraded_on_login(log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork,
                                                 hasher: FakeHasher) -> None:
    ada = given_user(password_hash=f"old:{PASSWORD}")
    hasher.rehash = True

    await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.users[ada.id].password_hash == f"hashed:{PASSWORD}"


async def test_a_current_hash_is_left_alone(log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork,
                                            hasher: FakeHasher) -> None:
    ada = given_user(password_hash=f"old:{PASSWORD}")

    await log_in(LogIn("ada@example.com", PASSWORD))

    assert uow.committed.users[ada.id].password_hash == f"old:{PASSWORD}"
    assert hasher.hashed == []


async def test_an_account_without_a_password_is_refused_like_an_unknown_one(log_in: LogInHandler,
                                                                            given_user: GivenUser,
                                                                            hasher: FakeHasher) -> None:
    given_user(password=None)  # invited, has not chosen a password yet

    with pytest.raises(InvalidCredentialsError):
        await log_in(LogIn("ada@example.com", ""))

    assert hasher.burns == 1


async def test_the_password_grant_refuses_an_mfa_account_without_opening_a_session(
        log_in: LogInHandler, given_user: GivenUser, uow: FakeUnitOfWork) -> None:
    given_user(mfa_enabled=True)

    with pytest.raises(MfaRequiredError):
        await log_in(LogIn("ada@example.com", PASSWORD, password_grant=True))

    assert uow.committed.sessions == {}

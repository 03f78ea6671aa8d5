from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from auth_service.application.commands.register_user import RegisterUser, RegisterUserHandler, RegistrationStarted
from auth_service.application.commands.resend_verification import ResendVerification, ResendVerificationHandler
from auth_service.application.commands.verify_email import VerifyEmail, VerifyEmailHandler
from auth_service.application.config import AuthConfig
from auth_service.application.errors import InvalidOneTimeTokenError, TooManyAttemptsError
from auth_service.application.ports import EmailMessage
from auth_service.application.verification import VerificationCodes
from auth_service.domain.errors import DomainError, InvalidVerificationCodeError, VerificationExpiredError
from auth_service.domain.users import UserStatus
from tests.doubles import FixedClock
from tests.unit.fakes import (
    FakeIdentityProvider,
    FakePolicy,
    FakeRateLimiter,
    FakeSecrets,
    FakeUnitOfWork,
    link_token,
    verification_code,
)

DAY = 86_400


@pytest.fixture
def register(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
             secrets: FakeSecrets, clock: FixedClock, config: AuthConfig) -> RegisterUserHandler:
    return RegisterUserHandler(uow_factory, identity, policy, secrets, clock, config, FakeRateLimiter())


@pytest.fixture
def verify(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
           config: AuthConfig, identity: FakeIdentityProvider) -> VerifyEmailHandler:
    return VerifyEmailHandler(uow_factory, secrets, clock, config, identity)


@pytest.fixture
def resend(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
           config: AuthConfig) -> ResendVerificationHandler:
    return ResendVerificationHandler(uow_factory, secrets, clock, config)


async def register_ada(register: RegisterUserHandler, uow: FakeUnitOfWork) -> tuple[RegistrationStarted, EmailMessage]:
    started = await register(RegisterUser("ada@example.com", "correct horse battery"))
    return started, uow.committed.mail_to("ada@example.com", "Verify your email")[-1]


async def test_a_valid_link_token_activates_and_verifies_the_account(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork,
        identity: FakeIdentityProvider, clock: FixedClock) -> None:
    started, message = await register_ada(register, uow)

    verified = await verify(VerifyEmail(token=link_token(message)))

    assert (verified.user_id, verified.status) == (started.user_id, "active")
    user = uow.committed.users[started.user_id]
    assert (user.status, user.is_verified, user.pending_until) == (UserStatus.ACTIVE, True, None)
    registration = uow.committed.registrations[started.registration_id]
    assert (registration.status, registration.verified_at) == ("verified", clock.now())
    assert identity.verified == [started.user_id]


async def test_a_valid_code_activates_the_account_whatever_the_case_of_the_email(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork) -> None:
    started, message = await register_ada(register, uow)

    verified = await verify(VerifyEmail(email=" ADA@example.com", code=verification_code(message)))

    assert verified.status == "active"
    assert uow.committed.users[started.user_id].status is UserStatus.ACTIVE


async def test_verification_is_audited_with_the_user_as_actor_and_target(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork) -> None:
    started, message = await register_ada(register, uow)

    await verify(VerifyEmail(token=link_token(message)))

    record = uow.committed.one("user.email_verified")
    assert (record.outcome, record.actor_id, record.target_type, record.target_id) == (
        "success", started.user_id, "user", started.user_id)
    assert not uow.committed.mentions(link_token(message))


async def test_an_unknown_token_is_an_invalid_token_and_changes_nothing(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork) -> None:
    await register_ada(register, uow)

    with pytest.raises(InvalidOneTimeTokenError):
        await verify(VerifyEmail(token="tok-404"))

    assert uow.commits == 1


async def test_a_used_token_is_idempotent_and_never_expires(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    started, message = await register_ada(register, uow)
    await verify(VerifyEmail(token=link_token(message)))
    commits, audit = uow.commits, list(uow.committed.audit)
    clock.advance(3 * DAY)

    again = await verify(VerifyEmail(token=link_token(message)))

    assert (again.user_id, again.status) == (started.user_id, "active")
    assert (uow.commits, uow.committed.audit) == (commits, audit)


async def test_a_used_code_is_idempotent_and_never_expires(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    _, message = await register_ada(register, uow)
    await verify(VerifyEmail(email="ada@example.com", code=verification_code(message)))
    commits = uow.commits
    clock.advance(3 * DAY)

    again = await verify(VerifyEmail(email="ada@example.com", code=verification_code(message)))

    assert again.status == "active"
    assert uow.commits == commits


async def test_an_expired_registration_is_gone_and_both_rows_are_stored_expired(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork,
        identity: FakeIdentityProvider, clock: FixedClock) -> None:
    started, message = await register_ada(register, uow)
    clock.advance(DAY)

    with pytest.raises(VerificationExpiredError):
        await verify(VerifyEmail(token=link_token(message)))

    assert uow.committed.users[started.user_id].status is UserStatus.EXPIRED
    assert uow.committed.registrations[started.registration_id].status == "expired"
    assert identity.discarded == [started.user_id]
    record = uow.committed.one("user.verification_expired")
    assert (record.actor_id, record.target_id) == (started.user_id, started.user_id)


async def test_an_expired_registration_is_gone_again_without_a_second_record(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    _, message = await register_ada(register, uow)
    clock.advance(DAY)
    with pytest.raises(VerificationExpiredError):
        await verify(VerifyEmail(token=link_token(message)))
    commits = uow.commits

    with pytest.raises(VerificationExpiredError):
        await verify(VerifyEmail(email="ada@example.com", code=verification_code(message)))

    assert uow.commits == commits
    assert len(uow.committed.audit_of("user.verification_expired")) == 1


async def test_a_wrong_code_is_refused_and_the_count_is_committed(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, secrets: FakeSecrets) -> None:
    await register_ada(register, uow)

    with pytest.raises(InvalidVerificationCodeError):
        await verify(VerifyEmail(email="ada@example.com", code="999999"))

    counter = uow.committed.failure_counters[VerificationCodes(secrets).attempts_key("ada@example.com")]
    assert counter.failures == 1
    assert uow.committed.user_by_email("ada@example.com").status is UserStatus.PENDING


async def test_the_fifth_wrong_code_is_still_refused_then_even_the_right_code_is_dead(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    _, message = await register_ada(register, uow)
    for _ in range(5):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="ada@example.com", code="999999"))
    clock.advance(20)

    with pytest.raises(TooManyAttemptsError) as dead:
        await verify(VerifyEmail(email="ada@example.com", code=verification_code(message)))

    assert dead.value.retry_after == 40  # until the resend cooldown that registration started is over
    assert uow.committed.user_by_email("ada@example.com").status is UserStatus.PENDING


async def test_wrong_codes_are_counted_for_an_unknown_email_too(verify: VerifyEmailHandler) -> None:
    for _ in range(5):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="nobody@example.com", code="123456"))

    with pytest.raises(TooManyAttemptsError) as dead:
        await verify(VerifyEmail(email="nobody@example.com", code="123456"))

    assert dead.value.retry_after == 0  # a resend is allowed right away


async def test_wrong_codes_are_counted_per_email(register: RegisterUserHandler, verify: VerifyEmailHandler,
                                                 uow: FakeUnitOfWork) -> None:
    _, message = await register_ada(register, uow)
    for _ in range(6):
        with contextlib.suppress(InvalidVerificationCodeError, TooManyAttemptsError):
            await verify(VerifyEmail(email="grace@example.com", code=verification_code(message)))

    verified = await verify(VerifyEmail(email="ada@example.com", code=verification_code(message)))

    assert verified.status == "active"


async def test_the_link_token_still_works_once_the_code_is_dead(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork) -> None:
    _, message = await register_ada(register, uow)
    for _ in range(5):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="ada@example.com", code="999999"))

    verified = await verify(VerifyEmail(token=link_token(message)))

    assert verified.status == "active"


async def test_a_resend_brings_a_code_that_works_once_the_old_one_is_dead(
        register: RegisterUserHandler, verify: VerifyEmailHandler, resend: ResendVerificationHandler,
        uow: FakeUnitOfWork, clock: FixedClock) -> None:
    await register_ada(register, uow)
    for _ in range(5):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="ada@example.com", code="999999"))
    clock.advance(60)
    await resend(ResendVerification("ada@example.com"))
    new_message = uow.committed.mail_to("ada@example.com", "Verify your email")[-1]

    verified = await verify(VerifyEmail(email="ada@example.com", code=verification_code(new_message)))

    assert verified.status == "active"


async def test_a_token_superseded_by_a_new_registration_is_invalid(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    _, old_message = await register_ada(register, uow)
    clock.advance(DAY)
    _, new_message = await register_ada(register, uow)

    with pytest.raises(InvalidOneTimeTokenError):
        await verify(VerifyEmail(token=link_token(old_message)))

    assert (await verify(VerifyEmail(token=link_token(new_message)))).status == "active"


async def test_a_failing_identity_provider_leaves_the_account_pending(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork,
        identity: FakeIdentityProvider) -> None:
    started, message = await register_ada(register, uow)
    identity.fail_with = ConnectionError("keycloak is down")

    with pytest.raises(ConnectionError):
        await verify(VerifyEmail(token=link_token(message)))

    assert uow.committed.users[started.user_id].status is UserStatus.PENDING
    assert uow.committed.registrations[started.registration_id].status == "pending"
    assert uow.commits == 1


@pytest.mark.parametrize("by", ["token", "code"])
async def test_verifying_a_deleted_pending_account_does_not_bring_it_back(
        register: RegisterUserHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork, clock: FixedClock,
        by: str) -> None:
    started, message = await register_ada(register, uow)
    deleted = uow.committed.users[started.user_id]
    deleted.status, deleted.deleted_at = UserStatus.DELETED, clock.now()  # an admin's DELETE /users/{id}
    cmd = (VerifyEmail(token=link_token(message)) if by == "token"
           else VerifyEmail(email="ada@example.com", code=verification_code(message)))

    with contextlib.suppress(DomainError):
        await verify(cmd)

    assert uow.committed.users[started.user_id].status is UserStatus.DELETED

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.register_user import RegisterUser, RegisterUserHandler
from auth_service.application.commands.resend_verification import ResendVerification, ResendVerificationHandler
from auth_service.application.commands.verify_email import VerifyEmail, VerifyEmailHandler
from auth_service.application.config import AuthConfig
from auth_service.application.errors import InvalidOneTimeTokenError, RateLimitedError
from auth_service.application.ports import RequestContext
from auth_service.domain.errors import InvalidVerificationCodeError, VerificationExpiredError
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
COOLDOWN = 60


@pytest.fixture
def register(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
             secrets: FakeSecrets, clock: FixedClock, config: AuthConfig) -> RegisterUserHandler:
    return RegisterUserHandler(uow_factory, identity, policy, secrets, clock, config, FakeRateLimiter())


@pytest.fixture
def resend(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
           config: AuthConfig) -> ResendVerificationHandler:
    return ResendVerificationHandler(uow_factory, secrets, clock, config)


@pytest.fixture
def verify(uow_factory: Callable[[], FakeUnitOfWork], secrets: FakeSecrets, clock: FixedClock,
           config: AuthConfig, identity: FakeIdentityProvider) -> VerifyEmailHandler:
    return VerifyEmailHandler(uow_factory, secrets, clock, config, identity)


@pytest.fixture
async def ada_registered(register: RegisterUserHandler) -> None:
    await register(RegisterUser("ada@example.com", "correct horse battery"))


def verification_messages(uow: FakeUnitOfWork) -> int:
    return len(uow.committed.mail_to("ada@example.com", "Verify your email"))


@pytest.mark.usefixtures("ada_registered")
async def test_a_resend_replaces_the_token_and_code_and_the_old_ones_stop_working(
        resend: ResendVerificationHandler, verify: VerifyEmailHandler, uow: FakeUnitOfWork,
        clock: FixedClock) -> None:
    old = uow.committed.mail_to("ada@example.com")[0]
    clock.advance(COOLDOWN)

    await resend(ResendVerification("ada@example.com"))

    new = uow.committed.mail_to("ada@example.com")[1]
    assert (link_token(new), verification_code(new)) != (link_token(old), verification_code(old))
    with pytest.raises(InvalidOneTimeTokenError):
        await verify(VerifyEmail(token=link_token(old)))
    with pytest.raises(InvalidVerificationCodeError):
        await verify(VerifyEmail(email="ada@example.com", code=verification_code(old)))
    assert (await verify(VerifyEmail(token=link_token(new)))).status == "active"


@pytest.mark.usefixtures("ada_registered")
async def test_the_registration_starts_the_cooldown(resend: ResendVerificationHandler, uow: FakeUnitOfWork,
                                                    clock: FixedClock) -> None:
    clock.advance(25)
    commits = uow.commits

    with pytest.raises(RateLimitedError) as limited:
        await resend(ResendVerification("ADA@example.com"))

    assert limited.value.retry_after == COOLDOWN - 25
    assert uow.commits == commits
    assert verification_messages(uow) == 1


@pytest.mark.usefixtures("ada_registered")
async def test_at_most_one_message_per_cooldown(resend: ResendVerificationHandler, uow: FakeUnitOfWork,
                                                clock: FixedClock) -> None:
    clock.advance(COOLDOWN)
    await resend(ResendVerification("ada@example.com"))
    clock.advance(COOLDOWN - 1)

    with pytest.raises(RateLimitedError) as limited:
        await resend(ResendVerification("ada@example.com"))

    assert limited.value.retry_after == 1
    assert verification_messages(uow) == 2


@pytest.mark.usefixtures("ada_registered")
async def test_resends_are_capped_at_five_per_registration_window(resend: ResendVerificationHandler,
                                                                  uow: FakeUnitOfWork, clock: FixedClock) -> None:
    for _ in range(5):
        clock.advance(COOLDOWN)
        await resend(ResendVerification("ada@example.com"))
    clock.advance(COOLDOWN)

    with pytest.raises(RateLimitedError) as limited:
        await resend(ResendVerification("ada@example.com"))

    assert limited.value.retry_after == DAY - 6 * COOLDOWN  # until the registration window ends
    assert verification_messages(uow) == 6


@pytest.mark.usefixtures("ada_registered")
async def test_a_resend_does_not_extend_the_window(resend: ResendVerificationHandler, verify: VerifyEmailHandler,
                                                   uow: FakeUnitOfWork, clock: FixedClock) -> None:
    clock.advance(DAY - COOLDOWN)
    await resend(ResendVerification("ada@example.com"))
    clock.advance(COOLDOWN)

    with pytest.raises(VerificationExpiredError):
        await verify(VerifyEmail(token=link_token(uow.committed.mail_to("ada@example.com")[-1])))


@pytest.mark.usefixtures("ada_registered")
async def test_a_resend_resets_the_wrong_code_count(resend: ResendVerificationHandler, verify: VerifyEmailHandler,
                                                    uow: FakeUnitOfWork, clock: FixedClock) -> None:
    for _ in range(4):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="ada@example.com", code="999999"))
    clock.advance(COOLDOWN)
    await resend(ResendVerification("ada@example.com"))

    for _ in range(4):  # five in a row would kill the code: the earlier four no longer count
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="ada@example.com", code="999999"))
    code = verification_code(uow.committed.mail_to("ada@example.com")[-1])

    assert (await verify(VerifyEmail(email="ada@example.com", code=code))).status == "active"


async def test_a_resend_revives_a_dead_code_for_an_unknown_email_as_for_a_known_one(
        resend: ResendVerificationHandler, verify: VerifyEmailHandler) -> None:
    for _ in range(5):
        with pytest.raises(InvalidVerificationCodeError):
            await verify(VerifyEmail(email="nobody@example.com", code="999999"))

    await resend(ResendVerification("nobody@example.com"))

    with pytest.raises(InvalidVerificationCodeError):  # wrong, but no longer dead: nothing tells it apart
        await verify(VerifyEmail(email="nobody@example.com", code="999999"))


async def test_an_unknown_email_gets_the_same_answer_no_message_and_its_own_cooldown(
        resend: ResendVerificationHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    await resend(ResendVerification("nobody@example.com"))
    clock.advance(10)

    with pytest.raises(RateLimitedError) as limited:
        await resend(ResendVerification("nobody@example.com"))

    assert limited.value.retry_after == COOLDOWN - 10
    assert uow.committed.outbox == []
    assert uow.committed.audit == []


@pytest.mark.usefixtures("ada_registered")
async def test_an_expired_registration_is_not_revived(resend: ResendVerificationHandler, verify: VerifyEmailHandler,
                                                      uow: FakeUnitOfWork, clock: FixedClock) -> None:
    first = uow.committed.mail_to("ada@example.com")[0]
    clock.advance(DAY)

    await resend(ResendVerification("ada@example.com"))

    assert verification_messages(uow) == 1
    assert uow.committed.actions() == ["user.registered"]
    with pytest.raises(VerificationExpiredError):
        await verify(VerifyEmail(token=link_token(first)))


@pytest.mark.usefixtures("ada_registered")
async def test_a_verified_account_gets_no_new_message(resend: ResendVerificationHandler, verify: VerifyEmailHandler,
                                                      uow: FakeUnitOfWork, clock: FixedClock) -> None:
    await verify(VerifyEmail(token=link_token(uow.committed.mail_to("ada@example.com")[0])))
    clock.advance(COOLDOWN)

    await resend(ResendVerification("ada@example.com"))

    assert verification_messages(uow) == 1


@pytest.mark.usefixtures("ada_registered")
async def test_a_resend_is_audited_for_the_user_without_its_token_or_code(
        resend: ResendVerificationHandler, uow: FakeUnitOfWork, clock: FixedClock, ctx: RequestContext) -> None:
    clock.advance(COOLDOWN)

    await resend(ResendVerification("ada@example.com", ctx=ctx))

    user = uow.committed.user_by_email("ada@example.com")
    record = uow.committed.one("user.verification_resent")
    assert (record.actor_id, record.target_type, record.target_id, record.ip) == (
        user.id, "user", user.id, "203.0.113.7")
    message = uow.committed.mail_to("ada@example.com")[-1]
    assert not uow.committed.mentions(link_token(message))
    assert not uow.committed.mentions(verification_code(message))


@pytest.mark.usefixtures("ada_registered")
async def test_the_cooldown_is_counted_per_email(resend: ResendVerificationHandler, uow: FakeUnitOfWork,
                                                 clock: FixedClock) -> None:
    await resend(ResendVerification("grace@example.com"))
    clock.advance(COOLDOWN)

    await resend(ResendVerification("ada@example.com"))

    assert verification_messages(uow) == 2

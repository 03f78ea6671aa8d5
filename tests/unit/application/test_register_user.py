from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.register_user import RegisterUser, RegisterUserHandler
from auth_service.application.config import AuthConfig
from auth_service.application.ports import RequestContext
from auth_service.domain.errors import (
    BreachedPasswordError,
    EmailTakenError,
    FieldValidationError,
    UsernameTakenError,
    WeakPasswordError,
)
from auth_service.domain.users import Role, Source, UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser
from tests.unit.fakes import (
    FakeHasher,
    FakeIdentityProvider,
    FakePolicy,
    FakeRateLimiter,
    FakeSecrets,
    FakeUnitOfWork,
    fullwidth,
    link_token,
    verification_code,
)

DAY = 86_400


@pytest.fixture
def register(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
             secrets: FakeSecrets, clock: FixedClock, config: AuthConfig) -> RegisterUserHandler:
    return RegisterUserHandler(uow_factory, identity, policy, secrets, clock, config, FakeRateLimiter())


async def test_a_new_user_is_stored_pending_with_role_user_source_web_and_no_scopes(
        register: RegisterUserHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    started = await register(RegisterUser("ada@example.com", "correct horse battery"))

    user = uow.committed.users[started.user_id]
    assert (user.status, user.role, user.source) == (UserStatus.PENDING, Role.USER, Source.WEB)
    assert (user.network_id, user.station_id, user.company_id) == ("", "", None)
    assert user.username == "ada@example.com"
    assert user.password_hash == "hashed:correct horse battery"
    assert not user.is_verified
    assert started.status == "pending_verification"
    assert started.expires_at == clock.now() + AuthConfig().verification_ttl
    assert started.registration_id.startswith("REG-") and started.user_id.startswith("USR-")
    assert uow.commits == 1


async def test_the_email_is_trimmed_and_stored_lower_cased(register: RegisterUserHandler,
                                                           uow: FakeUnitOfWork) -> None:
    started = await register(RegisterUser("  Ada@Example.COM ", "correct horse battery"))

    assert started.email == "ada@example.com"
    assert uow.committed.users[started.user_id].email == "ada@example.com"


async def test_a_taken_email_is_refused_whatever_its_case_and_nothing_is_committed(
        register: RegisterUserHandler, uow: FakeUnitOfWork) -> None:
    await register(RegisterUser("ada@example.com", "correct horse battery"))

    with pytest.raises(EmailTakenError):
        await register(RegisterUser(" ADA@example.com", "battery staple horse"))

    assert uow.commits == 1
    assert len(uow.committed.users) == 1
    assert len(uow.committed.outbox) == 1
    assert uow.committed.user_by_email("ada@example.com").password_hash == "hashed:correct horse battery"


@pytest.mark.parametrize("status", [UserStatus.ACTIVE, UserStatus.DISABLED, UserStatus.DELETED])
async def test_an_email_held_in_any_status_but_expired_is_taken(register: RegisterUserHandler,
                                                               uow: FakeUnitOfWork, given_user: GivenUser,
                                                               status: UserStatus) -> None:
    given_user("ada@example.com", status=status)

    with pytest.raises(EmailTakenError):
        await register(RegisterUser("ada@example.com", "correct horse battery"))

    assert uow.commits == 0


async def test_a_pending_registration_inside_its_window_still_holds_the_email(
        register: RegisterUserHandler, clock: FixedClock) -> None:
    await register(RegisterUser("ada@example.com", "correct horse battery"))
    clock.advance(DAY - 1)

    with pytest.raises(EmailTakenError):
        await register(RegisterUser("ada@example.com", "battery staple horse"))


async def test_an_expired_registration_s_row_is_reused_with_the_same_id_and_a_new_registration(
        register: RegisterUserHandler, uow: FakeUnitOfWork, clock: FixedClock) -> None:
    first = await register(RegisterUser("ada@example.com", "correct horse battery"))
    clock.advance(DAY)  # the window has passed; the stored status still says pending

    second = await register(RegisterUser("ada@example.com", "battery staple horse", first_name="Ada"))

    assert second.user_id == first.user_id
    assert second.registration_id != first.registration_id
    assert len(uow.committed.users) == 1
    user = uow.committed.users[first.user_id]
    assert user.password_hash == "hashed:battery staple horse"
    assert user.first_name == "Ada"
    assert user.status is UserStatus.PENDING
    assert user.pending_until == clock.now() + AuthConfig().verification_ttl
    assert uow.committed.registrations[first.registration_id].status == "expired"
    assert uow.committed.registrations[second.registration_id].status == "pending"
    assert uow.committed.actions() == ["user.registered", "user.verification_expired", "user.registered"]


async def test_a_stored_verification_expired_user_is_reused_too(register: RegisterUserHandler,
                                                                uow: FakeUnitOfWork,
                                                                given_user: GivenUser) -> None:
    expired = given_user("ada@example.com", status=UserStatus.EXPIRED)

    started = await register(RegisterUser("ada@example.com", "battery staple horse"))

    assert started.user_id == expired.id
    assert uow.committed.users[expired.id].status is UserStatus.PENDING
    assert uow.committed.actions() == ["user.registered"]  # its expiry was recorded when it was stored


async def test_a_weak_password_is_refused_before_anything_is_hashed_or_stored(
        register: RegisterUserHandler, uow: FakeUnitOfWork, policy: FakePolicy, hasher: FakeHasher) -> None:
    policy.weak = ["too_short"]

    with pytest.raises(WeakPasswordError) as refused:
        await register(RegisterUser("ada@example.com", "short"))

    assert refused.value.details == {"reasons": ["too_short"]}
    assert hasher.hashed == []
    assert uow.commits == 0
    assert uow.committed.outbox == []


async def test_a_breached_password_is_refused(register: RegisterUserHandler, uow: FakeUnitOfWork,
                                              policy: FakePolicy) -> None:
    policy.breached = True

    with pytest.raises(BreachedPasswordError):
        await register(RegisterUser("ada@example.com", "password1234"))

    assert uow.commits == 0


async def test_the_policy_and_the_hasher_see_the_nfkc_normalised_password_and_the_user_s_own_words(
        register: RegisterUserHandler, policy: FakePolicy, hasher: FakeHasher) -> None:
    await register(RegisterUser("Ada@example.com", fullwidth("correct horse battery"), username="ada",
                                first_name="Ada", last_name="Lovelace"))

    assert policy.checked == [("correct horse battery", ["ada@example.com", "ada", "Ada", "Lovelace"])]
    assert hasher.hashed == ["correct horse battery"]


async def test_a_verification_message_carries_a_link_token_and_a_six_digit_code(
        register: RegisterUserHandler, uow: FakeUnitOfWork) -> None:
    await register(RegisterUser("ada@example.com", "correct horse battery"))

    (message,) = uow.committed.mail_to("ada@example.com", "Verify your email")
    assert link_token(message) == "tok-1"
    assert verification_code(message) == "000001"
    assert "https://app.example.com/verify-email#token=tok-1" in message.body.splitlines()


async def test_the_token_and_code_are_stored_only_as_hashes(register: RegisterUserHandler,
                                                            uow: FakeUnitOfWork) -> None:
    started = await register(RegisterUser("ada@example.com", "correct horse battery"))

    registration = uow.committed.registrations[started.registration_id]
    assert registration.token_hash != "tok-1"
    assert "000001" not in (registration.token_hash, registration.code_hash)


async def test_a_username_with_an_at_sign_must_be_the_user_s_own_email(register: RegisterUserHandler,
                                                                       uow: FakeUnitOfWork) -> None:
    with pytest.raises(FieldValidationError):
        await register(RegisterUser("ada@example.com", "correct horse battery", username="grace@example.com"))

    assert uow.commits == 0


async def test_the_own_email_in_another_case_is_accepted_as_the_username(register: RegisterUserHandler,
                                                                         uow: FakeUnitOfWork) -> None:
    started = await register(RegisterUser("ada@example.com", "correct horse battery", username="ADA@Example.com"))

    assert uow.committed.users[started.user_id].username == "ada@example.com"


async def test_a_taken_username_is_refused(register: RegisterUserHandler, uow: FakeUnitOfWork,
                                           given_user: GivenUser) -> None:
    given_user("grace@example.com", username="countess")

    with pytest.raises(UsernameTakenError):
        await register(RegisterUser("ada@example.com", "correct horse battery", username="countess"))

    assert uow.commits == 0


async def test_registration_is_audited_with_the_user_as_actor_and_target(register: RegisterUserHandler,
                                                                         uow: FakeUnitOfWork) -> None:
    ctx = RequestContext(ip="203.0.113.7", user_agent="pytest", trace_id="trace-1")

    started = await register(RegisterUser("ada@example.com", "correct horse battery", ctx=ctx))

    record = uow.committed.one("user.registered")
    assert (record.outcome, record.actor_id) == ("success", started.user_id)
    assert (record.target_type, record.target_id) == ("user", started.user_id)
    assert (record.ip, record.user_agent, record.trace_id) == ("203.0.113.7", "pytest", "trace-1")
    assert record.details == {"registration_id": started.registration_id}


async def test_the_audit_trail_holds_no_password_token_or_code(register: RegisterUserHandler,
                                                               uow: FakeUnitOfWork, clock: FixedClock) -> None:
    await register(RegisterUser("ada@example.com", "correct horse battery"))
    clock.advance(DAY)
    await register(RegisterUser("ada@example.com", "battery staple horse"))

    for secret in ("correct horse battery", "battery staple horse", "tok-1", "tok-2", "000001", "000002"):
        assert not uow.committed.mentions(secret)

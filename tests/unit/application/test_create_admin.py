from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.create_admin import CreateAdmin, CreateAdminHandler
from auth_service.application.commands.log_in import LogIn, LogInHandler
from auth_service.domain.errors import EmailTakenError, FieldValidationError, WeakPasswordError
from auth_service.domain.users import Role, Source, UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser
from tests.unit.fakes import FakeHasher, FakeIdentityProvider, FakePolicy, FakeUnitOfWork, fullwidth

PASSWORD = "correct horse battery"


@pytest.fixture
def create(uow_factory: Callable[[], FakeUnitOfWork], identity: FakeIdentityProvider, policy: FakePolicy,
           clock: FixedClock) -> CreateAdminHandler:
    return CreateAdminHandler(uow_factory, identity, policy, clock)


async def test_an_admin_is_created_active_verified_and_internal(create: CreateAdminHandler, uow: FakeUnitOfWork,
                                                                clock: FixedClock) -> None:
    user_id = await create(CreateAdmin(" Root@Example.com ", PASSWORD))

    assert user_id is not None
    admin = uow.committed.users[user_id]
    assert (admin.email, admin.username) == ("root@example.com", "root@example.com")
    assert (admin.role, admin.status, admin.source, admin.is_verified) == (
        Role.ADMIN, UserStatus.ACTIVE, Source.INTERNAL, True)
    assert (admin.password_hash, admin.created_at) == (f"hashed:{PASSWORD}", clock.now())
    assert uow.commits == 1


async def test_the_creation_is_audited_without_the_password(create: CreateAdminHandler, uow: FakeUnitOfWork) -> None:
    user_id = await create(CreateAdmin("root@example.com", PASSWORD))

    record = uow.committed.one("user.created")
    assert (record.outcome, record.actor_id, record.target_type, record.target_id) == (
        "success", None, "user", user_id)
    assert record.details == {"role": "admin", "via": "bootstrap"}
    assert not uow.committed.mentions(PASSWORD)


async def test_the_new_admin_can_log_in(create: CreateAdminHandler, log_in: LogInHandler) -> None:
    user_id = await create(CreateAdmin("root@example.com", fullwidth("correct horse battery")))

    tokens = await log_in(LogIn("root@example.com", PASSWORD))

    assert tokens.user.id == user_id


async def test_a_taken_email_is_refused(create: CreateAdminHandler, given_user: GivenUser,
                                        uow: FakeUnitOfWork) -> None:
    given_user("root@example.com")

    with pytest.raises(EmailTakenError):
        await create(CreateAdmin("ROOT@example.com", PASSWORD))

    assert uow.commits == 0


async def test_only_if_no_admin_creates_nothing_while_an_active_admin_exists(
        create: CreateAdminHandler, given_user: GivenUser, uow: FakeUnitOfWork, hasher: FakeHasher) -> None:
    given_user("boss@example.com", role=Role.ADMIN)

    created = await create(CreateAdmin("root@example.com", PASSWORD, only_if_no_admin=True))

    assert created is None
    assert (uow.commits, len(uow.committed.users), hasher.hashed) == (0, 1, [])


async def test_only_if_no_admin_creates_one_when_the_only_admin_is_disabled(create: CreateAdminHandler,
                                                                            given_user: GivenUser) -> None:
    given_user("boss@example.com", role=Role.ADMIN, status=UserStatus.DISABLED)

    created = await create(CreateAdmin("root@example.com", PASSWORD, only_if_no_admin=True))

    assert created is not None


@pytest.mark.parametrize("email", ["root", "root@localhost", "root @example.com", ""])
async def test_an_invalid_email_is_refused(create: CreateAdminHandler, uow: FakeUnitOfWork, email: str) -> None:
    with pytest.raises(FieldValidationError):
        await create(CreateAdmin(email, PASSWORD))

    assert uow.commits == 0


async def test_a_weak_password_is_refused(create: CreateAdminHandler, uow: FakeUnitOfWork,
                                          policy: FakePolicy) -> None:
    policy.weak = ["too_short"]

    with pytest.raises(WeakPasswordError):
        await create(CreateAdmin("root@example.com", "short"))

    assert uow.commits == 0
    assert policy.checked == [("short", ["root@example.com", "root@example.com", "", ""])]

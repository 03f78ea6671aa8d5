from __future__ import annotations

from collections.abc import Callable

import pytest

from auth_service.application.commands.update_me import UpdateMe, UpdateMeHandler
from auth_service.application.errors import InvalidTokenError
from auth_service.application.ports import RequestContext
from auth_service.domain.errors import FieldValidationError, UsernameTakenError
from auth_service.domain.principal import Principal
from auth_service.domain.users import UserStatus
from tests.doubles import FixedClock
from tests.unit.application.conftest import GivenUser, SignIn
from tests.unit.fakes import FakeUnitOfWork

COMPANY = "CMP-aaaaaaaaaaaaaaaa"


@pytest.fixture
def update(uow_factory: Callable[[], FakeUnitOfWork], clock: FixedClock) -> UpdateMeHandler:
    return UpdateMeHandler(uow_factory, clock)


@pytest.fixture
async def me(given_user: GivenUser, sign_in: SignIn) -> Principal:
    given_user("ada@example.com", first_name="Ada", phone="+44 20 7946 0000", company_id=COMPANY,
               profile={"theme": "dark"})
    _, principal = await sign_in()
    return principal


async def test_self_editable_fields_are_changed_and_audited_by_name_only(
        update: UpdateMeHandler, me: Principal, uow: FakeUnitOfWork, clock: FixedClock, ctx: RequestContext) -> None:
    clock.advance(60)

    view = await update(UpdateMe(me, {"first_name": "Augusta", "last_name": "King", "phone": "+44 20 7946 0001"},
                                 ctx=ctx))

    user = uow.committed.users[me.user_id]
    assert (user.first_name, user.last_name, user.phone) == ("Augusta", "King", "+44 20 7946 0001")
    assert (user.updated_at, user.updated_by) == (clock.now(), me.user_id)
    assert (view.first_name, view.last_name, view.status) == ("Augusta", "King", "active")
    record = uow.committed.one("user.updated")
    assert (record.actor_id, record.target_type, record.target_id, record.company_id) == (
        me.user_id, "user", me.user_id, COMPANY)
    assert record.details == {"fields": ["first_name", "last_name", "phone"]}
    assert not uow.committed.mentions("Augusta")


async def test_an_explicit_null_clears_an_optional_field(update: UpdateMeHandler, me: Principal,
                                                         uow: FakeUnitOfWork) -> None:
    view = await update(UpdateMe(me, {"phone": None}))

    assert uow.committed.users[me.user_id].phone is None
    assert view.phone is None


async def test_a_null_profile_becomes_an_empty_object(update: UpdateMeHandler, me: Principal,
                                                      uow: FakeUnitOfWork) -> None:
    await update(UpdateMe(me, {"profile": None}))

    assert uow.committed.users[me.user_id].profile == {}


async def test_fields_left_out_keep_their_value(update: UpdateMeHandler, me: Principal,
                                                uow: FakeUnitOfWork) -> None:
    await update(UpdateMe(me, {"last_name": "Lovelace"}))

    user = uow.committed.users[me.user_id]
    assert (user.first_name, user.phone, user.profile) == ("Ada", "+44 20 7946 0000", {"theme": "dark"})


async def test_an_update_that_changes_nothing_commits_nothing(update: UpdateMeHandler, me: Principal,
                                                              uow: FakeUnitOfWork) -> None:
    commits = uow.commits

    view = await update(UpdateMe(me, {"first_name": "Ada", "profile": {"theme": "dark"}}))

    assert view.first_name == "Ada"
    assert uow.commits == commits
    assert uow.committed.audit_of("user.updated") == []


async def test_the_username_is_trimmed(update: UpdateMeHandler, me: Principal, uow: FakeUnitOfWork) -> None:
    await update(UpdateMe(me, {"username": "  countess "}))

    assert uow.committed.users[me.user_id].username == "countess"


async def test_a_taken_username_is_refused_and_nothing_changes(update: UpdateMeHandler, me: Principal,
                                                               given_user: GivenUser, uow: FakeUnitOfWork) -> None:
    given_user("grace@example.com", username="admiral")
    commits = uow.commits

    with pytest.raises(UsernameTakenError):
        await update(UpdateMe(me, {"username": "admiral", "first_name": "Augusta"}))

    assert uow.commits == commits
    assert uow.committed.users[me.user_id].first_name == "Ada"


@pytest.mark.parametrize("username", ["", "   ", None])
async def test_an_empty_username_is_refused(update: UpdateMeHandler, me: Principal, username: str | None) -> None:
    with pytest.raises(FieldValidationError):
        await update(UpdateMe(me, {"username": username}))


async def test_a_username_with_an_at_sign_must_be_the_user_s_own_email(update: UpdateMeHandler, me: Principal,
                                                                       uow: FakeUnitOfWork) -> None:
    await update(UpdateMe(me, {"username": "countess"}))

    with pytest.raises(FieldValidationError):
        await update(UpdateMe(me, {"username": "grace@example.com"}))
    await update(UpdateMe(me, {"username": "ada@example.com"}))

    assert uow.committed.users[me.user_id].username == "ada@example.com"


@pytest.mark.parametrize("status", [UserStatus.DISABLED, UserStatus.DELETED])
async def test_an_account_no_longer_active_cannot_edit_itself(update: UpdateMeHandler, me: Principal,
                                                              uow: FakeUnitOfWork, status: UserStatus) -> None:
    uow.committed.users[me.user_id].status = status

    with pytest.raises(InvalidTokenError):
        await update(UpdateMe(me, {"first_name": "Augusta"}))

    assert uow.committed.users[me.user_id].first_name == "Ada"

"""The fakes' own promises, which every use-case test relies on: nothing is visible before commit,
everything uncommitted is discarded, and entities are handed out as copies, as the database would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_service.domain.audit import AuditRecord
from auth_service.domain.errors import EmailTakenError
from auth_service.domain.users import User
from tests.unit.fakes import FakeUnitOfWork

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def ada() -> User:
    return User.register("ada@example.com", "hashed:pw", now=NOON, verification_ttl=timedelta(hours=24))


async def test_a_change_is_visible_only_after_commit() -> None:
    uow, user = FakeUnitOfWork(), ada()

    async with uow:
        await uow.users.add(user)
        assert user.id not in uow.committed.users
        await uow.commit()

    assert user.id in uow.committed.users
    assert uow.commits == 1


async def test_a_change_without_commit_is_discarded_even_when_nothing_fails() -> None:
    uow, user = FakeUnitOfWork(), ada()

    async with uow:
        await uow.users.add(user)

    assert uow.committed.users == {}
    assert await uow.users.get(user.id) is None


async def test_changes_after_a_commit_are_discarded_without_another() -> None:
    uow, user = FakeUnitOfWork(), ada()

    async with uow:
        await uow.users.add(user)
        await uow.commit()
        await uow.audit.add(AuditRecord("user.updated", "success", NOON))

    assert uow.committed.audit == []


async def test_an_entity_changed_but_never_saved_stays_unchanged() -> None:
    uow, user = FakeUnitOfWork(), ada()
    uow.committed.users[user.id] = user

    async with uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.first_name = "Augusta"
        await uow.commit()

    assert uow.committed.users[user.id].first_name is None


async def test_a_second_user_with_the_same_email_fails_at_commit() -> None:
    uow = FakeUnitOfWork()

    async with uow:
        await uow.users.add(ada())
        await uow.users.add(ada())
        with pytest.raises(EmailTakenError):
            await uow.commit()

    assert uow.committed.users == {}


async def test_a_transaction_inside_another_is_refused_rather_than_deadlocking() -> None:
    uow = FakeUnitOfWork()

    async with uow:
        with pytest.raises(RuntimeError):
            async with uow:
                pass

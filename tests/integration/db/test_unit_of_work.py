"""The read-only unit of work of the login's first step: it reads what is committed, cannot
commit, and on PostgreSQL runs its statements without a transaction around them."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from auth_service.bootstrap import Container
from auth_service.domain.lockout import FailureCounter
from tests.doubles import Mailbox
from tests.integration.http.flows import register_verified


async def test_a_read_only_unit_of_work_reads_what_is_committed_and_cannot_commit(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await register_verified(client, mailbox, "ada@example.com")

    async with container.reads() as uow:
        user = await uow.users.get_by_email("ada@example.com")
        with pytest.raises(RuntimeError, match="cannot commit"):
            await uow.commit()

    assert user is not None and user.is_verified


# SQLite keeps its transactions there (every one begins IMMEDIATE).
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_on_postgresql_each_read_runs_on_its_own(container: Container) -> None:
    async with container.reads() as uow:
        session = uow._session  # type: ignore[attr-defined]
        # Inside one transaction both would answer the same transaction id.
        first = (await session.execute(text("SELECT txid_current()"))).scalar_one()
        second = (await session.execute(text("SELECT txid_current()"))).scalar_one()

    assert second != first


async def test_what_a_unit_of_work_did_not_commit_is_gone(container: Container) -> None:
    async with container.uow() as uow:
        await uow.failure_counters.save(FailureCounter("lockout:kept", failures=1))
        await uow.commit()
        await uow.failure_counters.save(FailureCounter("lockout:after-commit", failures=1))
    with pytest.raises(RuntimeError, match="boom"):
        async with container.uow() as uow:
            await uow.failure_counters.save(FailureCounter("lockout:failed", failures=1))
            raise RuntimeError("boom")

    async with container.reads() as uow:
        counts = [(await uow.failure_counters.get(key)).failures
                  for key in ("lockout:kept", "lockout:after-commit", "lockout:failed")]
    assert counts == [1, 0, 0]

"""The audit MAC chain: records are linked after commit, in order, and tampering is detected."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from auth_service.application.audit import audit_record
from auth_service.application.ports import RequestContext
from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import signed_in


async def _linked(container: Container) -> list[dict[str, object]]:
    await container.audit_chain.link_pending()
    async with container.sessionmaker() as session:
        rows = await session.execute(text("SELECT id, seq, action, mac FROM audit_logs ORDER BY seq"))
        return [dict(row._mapping) for row in rows]


async def test_every_record_is_linked_in_sequence_and_the_chain_verifies(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await signed_in(client, mailbox, "ada@example.com")

    rows = await _linked(container)
    report = await container.audit_chain.verify()

    # The test clock stands still, so records tie on occurred_at: compare without their order.
    assert sorted(row["action"] for row in rows) == ["auth.login_succeeded", "user.email_verified", "user.registered"]
    assert [row["seq"] for row in rows] == [1, 2, 3]
    assert report.ok and report.checked == 3


async def test_rewriting_a_record_in_the_database_breaks_the_chain_at_that_record(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    rows = await _linked(container)

    async with container.sessionmaker() as session:
        await session.execute(text("UPDATE audit_logs SET outcome = 'failure' WHERE id = :id"), {"id": rows[1]["id"]})
        await session.commit()
    report = await container.audit_chain.verify()

    assert not report.ok and report.broken_id == rows[1]["id"]


async def test_deleting_a_record_leaves_a_gap_that_is_reported(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    await signed_in(client, mailbox, "ada@example.com")
    rows = await _linked(container)

    async with container.sessionmaker() as session:
        await session.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": rows[1]["id"]})
        await session.commit()
    report = await container.audit_chain.verify()

    assert not report.ok and report.broken_id == rows[2]["id"]


async def test_concurrent_linkers_never_fork_the_chain(
        client: httpx.AsyncClient, mailbox: Mailbox, container: Container) -> None:
    for n in range(3):
        await signed_in(client, mailbox, f"user{n}@example.com")

    await asyncio.gather(*(container.audit_chain.link_pending() for _ in range(5)))
    rows = await _linked(container)

    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    assert (await container.audit_chain.verify()).ok


async def test_commits_close_together_are_linked_by_one_link(
        container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = container.audit_chain
    await chain.link_pending()
    linked: list[int] = []
    link_pending = chain.link_pending

    async def counted() -> int:
        linked.append(await link_pending())
        return linked[-1]

    monkeypatch.setattr(chain, "link_pending", counted)  # the running linker calls it through the instance
    # A gathering delay far longer than three commits take on a loaded CI machine (at 0.2 s a slow
    # commit once split them 2 + 1); the behaviour is the same at any delay.
    monkeypatch.setattr(chain, "GATHER_SECONDS", 2.0)
    for n in range(3):  # each commit wakes the linker
        async with container.uow() as uow:
            await uow.audit.add(audit_record("user.updated", RequestContext(), container.clock.now(),
                                             target_type="user", target_id=f"USR-{n}"))
            await uow.commit()
        await asyncio.sleep(0.02)
    for _ in range(100):
        if sum(linked) == 3:
            break
        await asyncio.sleep(0.2)

    assert [n for n in linked if n] == [3]  # a periodic round may have found nothing to link
    assert (await chain.verify()).ok

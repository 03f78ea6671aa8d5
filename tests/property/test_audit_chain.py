"""Properties of the audit MAC chain (SPEC §6) on a real, migrated SQLite database: whatever the
records, a linked chain verifies; altering any record, deleting one, or swapping two is detected,
and the report names the record where the chain breaks."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from auth_service.application.audit import audit_record
from auth_service.application.ports import RequestContext
from auth_service.infrastructure.db.audit_chain import AuditChain, ChainReport
from auth_service.infrastructure.db.engine import make_engine, make_sessionmaker
from auth_service.infrastructure.db.migrate import upgrade_to_head
from auth_service.infrastructure.db.repositories import SqlAuditRepository
from auth_service.infrastructure.security.random_secrets import RandomSecrets

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SECRET_KEY = "audit-chain-property-secret-key-0123456789"
_names = itertools.count()
# Each example stores and links a chain in a database file of its own: a fifth of the profile's budget.
on_a_database = settings(settings.default, max_examples=max(10, settings.default.max_examples // 5))

words = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
records = st.fixed_dictionaries({
    "action": st.sampled_from(["auth.login_succeeded", "auth.login_failed", "user.updated", "session.revoked"]),
    "outcome": st.sampled_from(["success", "failure"]),
    "actor_id": st.none() | st.just("USR-aaaaaaaaaaaaaaaa") | st.just("USR-bbbbbbbbbbbbbbbb"),
    "ip": st.none() | st.ip_addresses().map(str),
    "details": st.dictionaries(st.sampled_from(["reason", "count", "note"]), words | st.integers(), max_size=2),
    "offset": st.integers(min_value=0, max_value=3600),
})
chains = st.lists(records, min_size=2, max_size=8)
# A column an attacker with write access might rewrite, and the text to write into it.
columns = st.sampled_from(["action", "outcome", "actor_id", "target_id", "ip", "user_agent", "trace_id", "details"])


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit-chain") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


def _with_chain(template: Path, chain: list[dict[str, Any]],
                tamper: Callable[[Any, list[dict[str, Any]]], Awaitable[None]]) -> tuple[ChainReport, list[str]]:
    """Store and link `chain` in a copy of the template, apply `tamper`, and verify."""
    path = template.with_name(f"chain-{next(_names)}.db")
    shutil.copyfile(template, path)

    async def run() -> tuple[ChainReport, list[str]]:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        sessions = make_sessionmaker(engine)
        audit = AuditChain(sessions, RandomSecrets(SECRET_KEY))
        try:
            async with sessions() as session, session.begin():
                repository = SqlAuditRepository(session)
                for record in chain:
                    await repository.add(audit_record(
                        record["action"], RequestContext(ip=record["ip"], user_agent="pytest", trace_id="t"),
                        NOON + timedelta(seconds=record["offset"]), outcome=record["outcome"],
                        actor_id=record["actor_id"], target_type="user", target_id="USR-cccccccccccccccc",
                        **record["details"]))
            assert await audit.link_pending() == len(chain)
            async with sessions() as session:
                ids = list((await session.execute(text("SELECT id FROM audit_logs ORDER BY seq"))).scalars())
            async with sessions() as session, session.begin():
                await tamper(session, [{"id": id_, "seq": seq} for seq, id_ in enumerate(ids, start=1)])
            return await audit.verify(), ids
        finally:
            await engine.dispose()
            path.unlink()

    return asyncio.run(run())


async def _untouched(session: Any, rows: list[dict[str, Any]]) -> None:
    return None


@on_a_database
@given(chain=chains)
def test_a_linked_chain_verifies_whatever_its_records(template: Path, chain: list[dict[str, Any]]) -> None:
    report, ids = _with_chain(template, chain, _untouched)

    assert report.ok and report.checked == len(chain) == len(ids)


@on_a_database
@given(chain=chains, data=st.data(), column=columns)
def test_altering_any_column_of_any_record_is_detected_at_that_record(
        template: Path, chain: list[dict[str, Any]], data: st.DataObject, column: str) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1), label="index")
    value = data.draw(words, label="value")
    new = f'{{"reason": "{value.replace(chr(34), "")}"}}' if column == "details" else value[:16]

    async def alter(session: Any, rows: list[dict[str, Any]]) -> None:
        current = (await session.execute(text(f"SELECT {column} FROM audit_logs WHERE id = :id"),
                                         {"id": rows[index]["id"]})).scalar()
        assume(str(current) != new)
        await session.execute(text(f"UPDATE audit_logs SET {column} = :value WHERE id = :id"),
                              {"value": new, "id": rows[index]["id"]})

    report, ids = _with_chain(template, chain, alter)

    assert not report.ok and report.broken_id == ids[index]


@on_a_database
@given(chain=chains, data=st.data())
def test_moving_a_record_in_time_is_detected_at_that_record(template: Path, chain: list[dict[str, Any]],
                                                            data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1), label="index")
    shift = data.draw(st.integers(min_value=1, max_value=10**6), label="microseconds")

    async def move(session: Any, rows: list[dict[str, Any]]) -> None:
        occurred = (await session.execute(text("SELECT occurred_at FROM audit_logs WHERE id = :id"),
                                          {"id": rows[index]["id"]})).scalar()
        moved = (datetime.fromisoformat(str(occurred)) + timedelta(microseconds=shift)).isoformat(sep=" ")
        await session.execute(text("UPDATE audit_logs SET occurred_at = :at WHERE id = :id"),
                              {"at": moved, "id": rows[index]["id"]})

    report, ids = _with_chain(template, chain, move)

    assert not report.ok and report.broken_id == ids[index]


@on_a_database
@given(chain=chains, data=st.data())
def test_deleting_any_record_but_the_newest_is_detected_at_the_gap(
        template: Path, chain: list[dict[str, Any]], data: st.DataObject) -> None:
    # The newest records are the limit of a chain kept in the database it protects: deleting them
    # leaves a shorter chain that verifies (docs/security.md, 7.3.3).
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 2), label="index")

    async def delete(session: Any, rows: list[dict[str, Any]]) -> None:
        await session.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": rows[index]["id"]})

    report, ids = _with_chain(template, chain, delete)

    assert not report.ok and report.broken_id == ids[index + 1]


@on_a_database
@given(chain=chains, data=st.data())
def test_swapping_the_places_of_two_records_is_detected_at_the_first_of_them(
        template: Path, chain: list[dict[str, Any]], data: st.DataObject) -> None:
    first, second = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(chain) - 1),
                                              min_size=2, max_size=2, unique=True), label="positions"))

    async def swap(session: Any, rows: list[dict[str, Any]]) -> None:
        a, b = rows[first], rows[second]
        await session.execute(text("UPDATE audit_logs SET seq = -1 WHERE id = :id"), {"id": a["id"]})
        await session.execute(text("UPDATE audit_logs SET seq = :seq WHERE id = :id"), {"seq": a["seq"], "id": b["id"]})
        await session.execute(text("UPDATE audit_logs SET seq = :seq WHERE id = :id"), {"seq": b["seq"], "id": a["id"]})

    report, ids = _with_chain(template, chain, swap)

    assert not report.ok and report.broken_id == ids[second]  # now in the first one's place


@on_a_database
@given(chain=chains, data=st.data())
def test_swapping_the_content_of_two_records_is_detected_at_the_first_of_them(
        template: Path, chain: list[dict[str, Any]], data: st.DataObject) -> None:
    first, second = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(chain) - 1),
                                              min_size=2, max_size=2, unique=True), label="positions"))
    assume(chain[first] != chain[second])
    content = "occurred_at, action, outcome, actor_id, ip, details"

    async def swap(session: Any, rows: list[dict[str, Any]]) -> None:
        a, b = rows[first]["id"], rows[second]["id"]
        values = {row["id"]: row for row in (await session.execute(
            text(f"SELECT id, {content} FROM audit_logs WHERE id IN (:a, :b)"), {"a": a, "b": b})).mappings()}
        for target, source in ((a, b), (b, a)):
            assignments = ", ".join(f"{name} = :{name}" for name in content.split(", "))
            await session.execute(text(f"UPDATE audit_logs SET {assignments} WHERE id = :id"),
                                  {**{k: v for k, v in values[source].items() if k != "id"}, "id": target})

    report, ids = _with_chain(template, chain, swap)

    assert not report.ok and report.broken_id == ids[first]

"""The tamper-evident audit chain (SPEC §6). Records are inserted unlinked by the business
transaction; one sequencer at a time (a row lock across instances) gives them their place in the
chain and a MAC over their content and the previous record's MAC. So no login waits on the chain
head, and someone with write access to the database alone cannot rewrite history unnoticed: the
MAC key is derived from SECRET_KEY, which never lives in the database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.application.ports import Secrets
from auth_service.infrastructure.db.tables import AuditLogRow, LockRow

log = structlog.get_logger(__name__)

GENESIS = "0" * 64
_PURPOSE = "audit-chain"
_FIELDS = ("id", "seq", "occurred_at", "action", "outcome", "actor_id", "target_type", "target_id",
           "company_id", "ip", "user_agent", "trace_id", "details")
_table = AuditLogRow.__table__


def canonical(record: Mapping[str, Any]) -> str:
    """A stable serialisation: fixed fields, sorted keys, UTC timestamps, no whitespace."""
    values = {name: record[name] for name in _FIELDS}
    occurred_at: datetime = values["occurred_at"]
    values["occurred_at"] = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    broken_id: str | None = None
    reason: str | None = None


class AuditChain:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: Secrets, batch_size: int = 500) -> None:
        self._sessions, self._secrets, self._batch = sessions, secrets, batch_size
        self._wakeup = asyncio.Event()

    def mac(self, previous_mac: str, record: Mapping[str, Any]) -> str:
        return self._secrets.digest(previous_mac + "\n" + canonical(record), purpose=_PURPOSE)

    def wake(self) -> None:
        self._wakeup.set()

    async def link_pending(self) -> int:
        """Link every committed, unlinked record in insertion order; returns how many."""
        linked = 0
        while True:
            async with self._sessions() as session, session.begin():
                # The sequencer's lock: one linker at a time across all instances.
                await session.execute(select(LockRow.name).where(LockRow.name == "audit_chain").with_for_update())
                head = (await session.execute(
                    select(_table.c.seq, _table.c.mac).where(_table.c.seq.is_not(None))
                    .order_by(_table.c.seq.desc()).limit(1))).first()
                seq, previous = (head.seq, head.mac) if head else (0, await self._checkpoint_mac(session))
                rows = (await session.execute(
                    select(_table).where(_table.c.seq.is_(None))
                    .order_by(_table.c.occurred_at, _table.c.id).limit(self._batch))).mappings().all()
                for row in rows:
                    seq += 1
                    record = dict(row, seq=seq)
                    previous = self.mac(previous, record)
                    link = update(AuditLogRow).where(AuditLogRow.id == row["id"])
                    await session.execute(link.values(seq=seq, mac=previous))
                linked += len(rows)
            if len(rows) < self._batch:
                return linked

    async def _checkpoint_mac(self, session: AsyncSession) -> str:
        """Where the chain starts: the genesis value, or the last purge's checkpoint (issue: audit)."""
        return GENESIS

    async def run(self, interval: float) -> None:
        """Link soon after each commit (woken) and at least every `interval` seconds."""
        while True:
            try:
                async with asyncio.timeout(interval):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.link_pending()
            except Exception as exc:  # unlinked records wait for the next round; nothing is lost
                log.warning("audit_link_failed", error=type(exc).__name__)

    async def verify(self) -> ChainReport:
        """Walk the chain in order; report the first record whose MAC or position is wrong."""
        checked, expected_seq = 0, 1
        async with self._sessions() as session:
            previous = await self._checkpoint_mac(session)
            last_seq = 0
            while True:
                rows = (await session.execute(
                    select(_table).where(_table.c.seq > last_seq).order_by(_table.c.seq).limit(self._batch)
                )).mappings().all()
                for row in rows:
                    if row["seq"] != expected_seq:
                        return ChainReport(False, checked, row["id"], f"gap: expected seq {expected_seq}")
                    if row["mac"] != self.mac(previous, dict(row)):
                        return ChainReport(False, checked, row["id"], "MAC mismatch")
                    previous, expected_seq, last_seq = row["mac"], expected_seq + 1, row["seq"]
                    checked += 1
                if len(rows) < self._batch:
                    return ChainReport(True, checked)

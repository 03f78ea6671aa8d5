"""The tamper-evident audit chain (SPEC §6). Records are inserted unlinked by the business
transaction; one sequencer at a time (a row lock across instances) gives them their place in the
chain and a MAC over their content and the previous record's MAC. So no login waits on the chain
head, and someone with write access to the database alone cannot rewrite history unnoticed: the
MAC key is derived from SECRET_KEY, which never lives in the database."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.application.audit import audit_record
from auth_service.application.ports import RequestContext, Secrets
from auth_service.infrastructure.background import Stopping
from auth_service.infrastructure.db.repositories import SqlAuditRepository
from auth_service.infrastructure.db.tables import AuditCheckpointRow, AuditLogRow, LockRow

log = structlog.get_logger(__name__)

GENESIS = "0" * 64
PURGE_BATCH = 5000
_PURPOSE = "audit-chain"
_FIELDS = ("id", "seq", "occurred_at", "action", "outcome", "actor_id", "target_type", "target_id",
           "company_id", "ip", "user_agent", "trace_id", "details")
_table = cast(Table, AuditLogRow.__table__)
# One statement for a whole batch (executemany: one round trip on asyncpg, not one per record).
_LINK = update(_table).where(_table.c.id == bindparam("record_id")).values(
    seq=bindparam("linked_seq"), mac=bindparam("linked_mac"))


def canonical(record: Mapping[str, Any]) -> str:
    """A stable serialisation: fixed fields, sorted keys, UTC timestamps, no whitespace."""
    values = {name: record[name] for name in _FIELDS}
    occurred_at: datetime = values["occurred_at"]
    values["occurred_at"] = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    last_seq: int
    last_mac: str
    valid: bool


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    broken_id: str | None = None
    reason: str | None = None


class AuditChain:
    # After a commit wakes the linker, it waits this long for the commits close behind: under load
    # one link (six round trips whatever its size) then serves many records, not one each. At 0.2 s
    # a worker linked five times a second under a login load, ~0.8 ms of its event loop per login
    # (docs/benchmarks.md, finding 36); a record is linked within about a second of its commit.
    GATHER_SECONDS = 1.0

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
                if head is not None:
                    seq, previous = head.seq, head.mac
                else:
                    checkpoint = await self._checkpoint(session)
                    seq, previous = checkpoint.last_seq, checkpoint.last_mac
                rows = (await session.execute(
                    select(_table).where(_table.c.seq.is_(None))
                    .order_by(_table.c.occurred_at, _table.c.id).limit(self._batch))).mappings().all()
                links = []
                for row in rows:
                    seq += 1
                    previous = self.mac(previous, dict(row, seq=seq))
                    links.append({"record_id": row["id"], "linked_seq": seq, "linked_mac": previous})
                if links:
                    await session.execute(_LINK, links)
                linked += len(rows)
            if len(rows) < self._batch:
                return linked

    async def _checkpoint(self, session: AsyncSession) -> Checkpoint:
        """Where the remaining chain starts: genesis, or the newest purge checkpoint."""
        row = (await session.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.last_seq.desc())
                                     .limit(1))).scalar_one_or_none()
        if row is None:
            return Checkpoint(0, GENESIS, valid=True)
        expected = self._checkpoint_mac(row.last_seq, row.last_mac, row.purged_count, row.created_at)
        return Checkpoint(row.last_seq, row.last_mac, valid=hmac.compare_digest(expected, row.mac))

    def _checkpoint_mac(self, last_seq: int, last_mac: str, purged: int, created_at: datetime) -> str:
        created = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return self._secrets.digest(f"{last_seq}:{last_mac}:{purged}:{created}", purpose="audit-checkpoint")

    async def purge(self, cutoff: datetime, now: datetime, ctx: RequestContext) -> int:
        """Delete the linked prefix of records older than `cutoff`. The signed checkpoint is
        written first, so a crash half-way leaves a chain that still verifies; the purge is
        audited in the same transaction as the checkpoint."""
        await self.link_pending()
        async with self._sessions() as session, session.begin():
            await session.execute(select(LockRow.name).where(LockRow.name == "audit_chain").with_for_update())
            start = (await self._checkpoint(session)).last_seq
            first_kept = await session.scalar(select(func.min(_table.c.seq)).where(
                _table.c.seq.is_not(None), _table.c.occurred_at >= cutoff))
            last = (first_kept - 1) if first_kept is not None else await session.scalar(select(func.max(_table.c.seq)))
            if last is None or last <= start:
                return 0
            last_mac = await session.scalar(select(_table.c.mac).where(_table.c.seq == last))
            count = int(await session.scalar(select(func.count()).select_from(_table).where(
                _table.c.seq > start, _table.c.seq <= last)) or 0)
            assert last_mac is not None
            session.add(AuditCheckpointRow(created_at=now, last_seq=last, last_mac=last_mac, purged_count=count,
                                           mac=self._checkpoint_mac(last, last_mac, count, now)))
            await SqlAuditRepository(session).add(audit_record(
                "audit.purged", ctx, now, target_type="audit", purged=count, through_seq=last,
                cutoff=cutoff.isoformat()))
        while True:  # in batches, each its own short transaction
            async with self._sessions() as session, session.begin():
                batch = select(_table.c.id).where(_table.c.seq <= last).limit(PURGE_BATCH)
                deleted = await session.execute(delete(AuditLogRow).where(AuditLogRow.id.in_(batch)))
            if deleted.rowcount < PURGE_BATCH:  # type: ignore[attr-defined]
                break
        log.info("audit_purged", records=count, through_seq=last)
        return count

    async def run(self, interval: float, stopping: Stopping | None = None) -> None:
        """Link soon after each commit (woken) and at least every `interval` seconds, until stopping."""
        stopping = stopping or Stopping()
        while not stopping.is_set:
            await stopping.sleep(interval, wake=self._wakeup)
            if self._wakeup.is_set():
                await stopping.sleep(self.GATHER_SECONDS)
            self._wakeup.clear()
            try:
                await self.link_pending()
            except Exception as exc:  # unlinked records wait for the next round; nothing is lost
                log.warning("audit_link_failed", error=type(exc).__name__)

    async def verify(self) -> ChainReport:
        """Walk the chain from its checkpoint; report the first record whose MAC or position is
        wrong. A prefix deleted without a signed checkpoint shows as a gap at the start."""
        checked = 0
        async with self._sessions() as session:
            checkpoint = await self._checkpoint(session)
            if not checkpoint.valid:
                return ChainReport(False, 0, None, "the purge checkpoint's signature is wrong")
            previous, last_seq = checkpoint.last_mac, checkpoint.last_seq
            expected_seq = last_seq + 1
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

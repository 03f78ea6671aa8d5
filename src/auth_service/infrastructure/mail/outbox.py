"""The transactional e-mail outbox (SPEC §8 E-mail): messages are queued in the database in the
transaction that causes them and delivered by a background worker with retries."""

from __future__ import annotations

import asyncio
import json
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.application.ports import Clock, EmailMessage, SecretBox
from auth_service.infrastructure.background import Stopping
from auth_service.infrastructure.db.tables import OutboxRow
from auth_service.infrastructure.mail.senders import MailSender

log = structlog.get_logger(__name__)

PURPOSE = "outbox"
_MAX_BACKOFF_SECONDS = 3600


class SqlOutbox:
    """Queues a message in the caller's session; it exists only if that transaction commits."""

    def __init__(self, session: AsyncSession, box: SecretBox, clock: Clock) -> None:
        self._session, self._box, self._clock = session, box, clock
        self.queued = 0  # messages added in this transaction, so its commit can wake the worker

    async def add(self, message: EmailMessage) -> None:
        self.queued += 1
        now = self._clock.now()
        payload = json.dumps({"to": message.to, "subject": message.subject, "body": message.body})
        self._session.add(OutboxRow(
            payload_enc=self._box.encrypt(payload.encode(), purpose=PURPOSE),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        ))


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    payload_enc: str | None
    attempts: int


class OutboxWorker:
    """Delivers due messages at least once, across any number of instances, and never dies.

    A claim leases rows by pushing `next_attempt_at` forward, so a worker that crashes mid-send
    only delays its messages by the lease. A delivered message's body is erased; one that failed
    `max_attempts` times is marked failed and left alone.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, clock: Clock,
                 sender: MailSender, poll_interval: float, max_attempts: int, batch_size: int = 20,
                 lease: float = 60.0) -> None:
        self._sessions, self._box, self._clock, self._sender = sessions, box, clock, sender
        self._poll_interval, self._max_attempts = poll_interval, max_attempts
        self._batch_size, self._lease = batch_size, timedelta(seconds=lease)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call after committing a queued message)."""
        self._wake.set()

    async def run(self, stopping: Stopping | None = None) -> None:
        """Poll until `stopping` is set (finishing the current batch) or cancelled."""
        stopping = stopping or Stopping()
        while not stopping.is_set:
            # Cleared before delivering, so a wake() that arrives meanwhile triggers another round.
            self._wake.clear()
            try:
                claimed, _ = await self._deliver_batch()
            except Exception as exc:
                claimed = 0
                # No traceback: a renderer showing locals (structlog's dict_tracebacks does) would log the
                # decrypted message.
                log.error("outbox.worker_error", error=_describe(exc))
            if claimed >= self._batch_size:
                continue  # more may be due right now
            await stopping.sleep(self._poll_interval, wake=self._wake)

    async def deliver_due(self) -> int:
        """Claim one batch of due messages and try each once; return how many were sent."""
        _, sent = await self._deliver_batch()
        return sent

    async def drain(self, timeout: float) -> int:  # noqa: ASYNC109 - a deadline that returns, not raises
        """Deliver until nothing is due or `timeout` seconds have passed; return how many were sent."""
        total = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    claimed, sent = await self._deliver_batch()
                    total += sent
                    if claimed == 0:
                        break
        except TimeoutError:
            log.warning("outbox.drain_timed_out", sent=total)
        return total

    async def _deliver_batch(self) -> tuple[int, int]:
        claimed, lease_until = await self._claim()
        sent = 0
        for item in claimed:
            # Past half the lease another instance may soon claim the rest: leave them to it
            # rather than risk sending a message twice.
            if self._clock.now() >= lease_until - self._lease / 2:
                break
            sent += await self._deliver(item)
        return len(claimed), sent

    async def _claim(self) -> tuple[list[_Claimed], datetime]:
        async with self._sessions() as session, session.begin():
            now = self._clock.now()
            lease_until = now + self._lease
            # FOR UPDATE SKIP LOCKED lets PostgreSQL instances claim disjoint batches. SQLite
            # compiles it to nothing: there the engine's BEGIN IMMEDIATE serialises the claims.
            rows = (await session.execute(
                select(OutboxRow.id, OutboxRow.payload_enc, OutboxRow.attempts)
                .where(
                    OutboxRow.sent_at.is_(None),
                    OutboxRow.failed_at.is_(None),
                    OutboxRow.next_attempt_at <= now,
                )
                .order_by(OutboxRow.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            claimed = [_Claimed(id=row[0], payload_enc=row[1], attempts=row[2]) for row in rows]
            if claimed:
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_([item.id for item in claimed]))
                    .values(next_attempt_at=lease_until)
                )
        return claimed, lease_until

    async def _deliver(self, item: _Claimed) -> int:
        try:
            if item.payload_enc is None:
                raise ValueError("the message has no payload")
            payload = json.loads(self._box.decrypt(item.payload_enc, purpose=PURPOSE))
            message = EmailMessage(to=payload["to"], subject=payload["subject"], body=payload["body"])
            await self._sender.send(message)
        except Exception as exc:
            await self._record_failure(item, exc)
            return 0
        await self._update(item.id, sent_at=self._clock.now(), payload_enc=None, last_error=None)
        return 1

    async def _record_failure(self, item: _Claimed, exc: Exception) -> None:
        now, attempts, error = self._clock.now(), item.attempts + 1, _describe(exc)
        if attempts >= self._max_attempts:
            await self._update(item.id, attempts=attempts, last_error=error, failed_at=now)
            log.error("outbox.gave_up", outbox_id=item.id, attempts=attempts, error=error)
            return
        backoff = timedelta(seconds=min(2**attempts, _MAX_BACKOFF_SECONDS))
        await self._update(item.id, attempts=attempts, last_error=error, next_attempt_at=now + backoff)
        log.warning("outbox.send_failed", outbox_id=item.id, attempts=attempts, error=error)

    async def _update(self, outbox_id: int, **values: object) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(OutboxRow).where(OutboxRow.id == outbox_id).values(**values))


def _describe(exc: BaseException) -> str:
    """The error's class and a short text, without the message's content or recipients."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "refused with " + ", ".join(str(code) for code, _ in exc.recipients.values())
    else:
        detail = str(exc)
    return f"{type(exc).__name__}: {detail}"[:200]

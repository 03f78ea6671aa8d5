"""Revoked sessions of the last access-token lifetime, kept in memory so the bearer check needs no
I/O. Revocations are written to the database by the use cases; this list learns of them at once
in its own process and by polling the database in every other instance (Redis pub/sub makes that
faster later without changing the port)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog

from auth_service.application.ports import Clock, UnitOfWork
from auth_service.infrastructure.background import Stopping

log = structlog.get_logger(__name__)

# While no live feed (Redis pub/sub) delivers revocations, poll at least this often: the bound is
# 2 s (issue 5, "Faults"); 1 s leaves room for the query and the request itself on a busy host.
UNFED_POLL_INTERVAL = 1.0


class InMemoryRevocationList:
    def __init__(self, clock: Clock, horizon: timedelta) -> None:
        self._clock, self._horizon = clock, horizon
        self._revoked: dict[str, datetime] = {}
        self._synced_until: datetime | None = None
        self._broadcast: Callable[[Sequence[str], datetime], Awaitable[None]] | None = None
        self._fed: Callable[[], bool] = lambda: False

    def broadcast_with(self, publish: Callable[[Sequence[str], datetime], Awaitable[None]],
                       fed: Callable[[], bool] | None = None) -> None:
        """Also tell the other instances (Redis pub/sub) whenever this one revokes. `fed` says
        whether their revocations reach this one live (subscribed); while not, the poll runs at
        least every UNFED_POLL_INTERVAL, whatever REVOCATION_POLL_INTERVAL says."""
        self._broadcast = publish
        if fed is not None:
            self._fed = fed

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    async def publish(self, session_ids: Sequence[str], revoked_at: datetime) -> None:
        self.remember(session_ids, revoked_at)
        if self._broadcast is not None and session_ids:
            await self._broadcast(session_ids, revoked_at)

    def remember(self, session_ids: Sequence[str], revoked_at: datetime) -> None:
        for session_id in session_ids:
            self._revoked[session_id] = revoked_at

    def __len__(self) -> int:
        return len(self._revoked)

    async def sync(self, uow: Callable[[], UnitOfWork]) -> None:
        """Load the revocations since the last sync (at start: of the last access-token lifetime)
        and forget those old enough that their access tokens have expired anyway."""
        now = self._clock.now()
        since = self._synced_until or now - self._horizon
        # Overlap a little: a transaction that committed late may carry an earlier revoked_at.
        async with uow() as unit:
            rows = await unit.sessions.revoked_since(since - timedelta(seconds=5))
        for session_id, revoked_at in rows:
            self._revoked[session_id] = revoked_at
        self._synced_until = now
        cutoff = now - self._horizon
        for session_id in [sid for sid, at in self._revoked.items() if at < cutoff]:
            del self._revoked[session_id]

    async def run_poller(self, uow: Callable[[], UnitOfWork], interval: float,
                         stopping: Stopping | None = None) -> None:
        stopping = stopping or Stopping()
        last = time.monotonic()
        while True:
            await stopping.sleep(min(interval, UNFED_POLL_INTERVAL))
            if stopping.is_set:
                return
            if self._fed() and time.monotonic() - last < interval:
                continue
            try:
                await self.sync(uow)
            except Exception as exc:  # keep enforcing what we know; never crash the instance
                log.warning("revocation_sync_failed", error=type(exc).__name__)
            last = time.monotonic()

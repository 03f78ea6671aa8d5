"""The revocation poll (SPEC §3, issue 5 "Faults"): while Redis pub/sub feeds an instance, the
database is polled every REVOCATION_POLL_INTERVAL; while it does not, at least every second."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pytest

from auth_service.application.ports import UnitOfWork
from auth_service.infrastructure import revocations
from auth_service.infrastructure.revocations import InMemoryRevocationList
from tests.doubles import FixedClock


async def _publish(session_ids: Sequence[str], revoked_at: datetime) -> None:
    return None


async def test_the_poll_runs_at_the_short_interval_only_while_unfed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(revocations, "UNFED_POLL_INTERVAL", 0.02)
    fed = True
    revoked = InMemoryRevocationList(FixedClock(), timedelta(minutes=15))
    revoked.broadcast_with(_publish, lambda: fed)
    syncs = 0

    async def sync(uow: Callable[[], UnitOfWork]) -> None:
        nonlocal syncs
        syncs += 1

    monkeypatch.setattr(revoked, "sync", sync)
    poller = asyncio.create_task(revoked.run_poller(lambda: None, 60))  # type: ignore[arg-type, return-value]
    try:
        await asyncio.sleep(0.2)
        assert syncs == 0  # fed live: the configured (long) interval applies
        fed = False
        await asyncio.sleep(0.2)
        assert syncs >= 3  # unfed: the short interval
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller


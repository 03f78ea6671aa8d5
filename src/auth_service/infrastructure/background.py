"""Stopping background loops cleanly. On shutdown a loop finishes its current pass and returns
instead of being cancelled inside a database transaction: a cancelled aiosqlite query can leave
its connection unable to close, which hangs shutdown."""

from __future__ import annotations

import asyncio
import contextlib


class Stopping:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Wait `seconds`, or less when stopping begins or `wake` is set."""
        waiters = [asyncio.ensure_future(self._event.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

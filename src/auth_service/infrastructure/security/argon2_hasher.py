"""Argon2id password hashing in a bounded worker pool (SPEC §7)."""

from __future__ import annotations

import asyncio
import ctypes
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from auth_service.application.errors import ServiceUnavailableError

_T = TypeVar("_T")
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters
_M_MMAP_THRESHOLD = -3
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound on 64-bit


def keep_large_buffers_out_of_the_heap(buffer_bytes: int) -> bool:
    """glibc raises its mmap threshold after the first large block is freed, so from then on every
    hashing thread keeps its own ARGON2_MEMORY_KIB buffer in its heap, never returned: resident
    memory grows by a buffer per thread. A fixed threshold just under the buffer keeps these
    buffers mmapped, given back to the system when a hash ends, while smaller blocks (greenlet
    stacks, response buffers) stay in the heap as before: mmapping those on every request would
    cost a system call and page faults each. Returns whether it was applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    threshold = max(128 * 1024, min(buffer_bytes // 2, _MAX_MMAP_THRESHOLD))
    try:
        libc = ctypes.CDLL("libc.so.6")
        # Trim the heap top past twice the threshold, as glibc's own adjustment would.
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold))
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False


class Argon2PasswordHasher:
    """Hashes and verifies with argon2id on `max_concurrent` dedicated threads, never on the event
    loop; once `max_queue` callers are already waiting, further ones get ServiceUnavailableError."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int,
                 max_concurrent: int, max_queue: int) -> None:
        if max_concurrent < 1 or max_queue < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queue >= 0")
        keep_large_buffers_out_of_the_heap(memory_kib * 1024)
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                               type=Type.ID)
        self._capacity = max_concurrent + max_queue
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="argon2")
        # Worker threads release slots and the pool may serve several event loops (CLI, tests).
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def burn(self, password: str) -> None:
        # Same pool, same parameters, same work as a real verify: an unknown e-mail must not answer
        # faster than a wrong password.
        await self._run(self._verify_dummy, password)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals --------------------------------------------------------------------------------
    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _verify_dummy(self, password: str) -> None:
        with self._lock:
            dummy = self._dummy_hash
        if dummy is None:
            # Computed outside the lock; two first callers may both compute one, which is harmless.
            dummy = self._argon2.hash(secrets.token_urlsafe(24))
            with self._lock:
                self._dummy_hash = self._dummy_hash or dummy
        self._verify(dummy, password)

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        with self._lock:
            if self._closed or self._in_flight >= self._capacity:
                raise ServiceUnavailableError()
            self._in_flight += 1
        try:
            future = self._pool.submit(fn, *args)
        except RuntimeError:  # the pool was shut down between the check and the submit
            self._release()
            raise ServiceUnavailableError() from None
        # Released when the work really ends, not when the caller stops waiting: a cancelled
        # request must not free a slot while its hash still occupies a thread.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: object = None) -> None:
        with self._lock:
            self._in_flight -= 1

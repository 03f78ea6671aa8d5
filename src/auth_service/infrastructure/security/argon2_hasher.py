"""Argon2id password hashing in a bounded worker pool (SPEC §7)."""

from __future__ import annotations

import asyncio
import ctypes
import queue
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from auth_service.application.errors import ServiceUnavailableError

_T = TypeVar("_T")
_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters
_M_MMAP_THRESHOLD = -3
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound on 64-bit
_MIN_TRIM_THRESHOLD = 128 * 1024  # glibc's default
IDLE_RELEASE_SECONDS = 5.0


class HashingMemory:
    """Where the argon2 buffers (ARGON2_MEMORY_KIB each) live, on glibc.

    A fresh buffer per hash (mmapped and unmapped again) costs a page fault per 4 KiB page: argon2
    then ran 45% slower than with a buffer that stays resident. A buffer kept for good costs its
    size in resident memory per hashing thread. So: each hashing thread's buffer comes from its
    own malloc arena and stays there while logins come (the mmap threshold above the buffer, the
    trim threshold above two buffers); a thread idle for IDLE_RELEASE_SECONDS after hashing gives
    its arena's free memory back (`release`). Elsewhere than on glibc it does nothing.
    """

    _lock = threading.Lock()  # mallopt settings are process-wide

    def __init__(self, buffer_bytes: int) -> None:
        self._libc: Any = None
        if not sys.platform.startswith("linux") or buffer_bytes >= _MAX_MMAP_THRESHOLD:
            return  # a buffer this large is always mmapped: nothing to keep, nothing to release
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]
            libc.free.argtypes = [ctypes.c_void_p]
            self._keep_threshold = max(2 * buffer_bytes + (1 << 20), _MIN_TRIM_THRESHOLD)
            with self._lock:
                if not (libc.mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)
                        and libc.mallopt(_M_TRIM_THRESHOLD, self._keep_threshold)):
                    return
        except (OSError, AttributeError):  # not glibc (musl, ...)
            return
        self._libc = libc

    @property
    def managed(self) -> bool:
        return self._libc is not None

    def release(self) -> None:
        """Give the calling thread's free heap memory back to the system (call it on a hashing thread)."""
        libc = self._libc
        if libc is None:
            return
        with self._lock:
            # glibc trims a thread arena's top when a block of 64 KiB or more is freed and the top
            # is over the trim threshold: lower it for one such free, then keep buffers again.
            libc.mallopt(_M_TRIM_THRESHOLD, _MIN_TRIM_THRESHOLD)
            try:
                libc.free(libc.malloc(2 * _MIN_TRIM_THRESHOLD))
                libc.malloc_trim(0)  # and the free pages inside the heaps, the main arena's top
            finally:
                libc.mallopt(_M_TRIM_THRESHOLD, self._keep_threshold)


class _Job:
    __slots__ = ("args", "fn", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple[str, ...]) -> None:
        self.fn, self.args, self.future = fn, args, Future[Any]()


class _HashingThreads:
    """`size` daemon threads working through a queue of jobs; each gives its heap memory back once
    it has been idle for `idle_release` seconds after hashing (ThreadPoolExecutor cannot run code
    on a given thread when it goes idle)."""

    def __init__(self, size: int, memory: HashingMemory, idle_release: float) -> None:
        self._size, self._memory, self._idle_release = size, memory, idle_release
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut_down = False
        self.releases = 0  # how many times a thread gave its memory back (tests, diagnostics)

    def submit(self, fn: Callable[..., _T], *args: str) -> Future[_T]:
        job = _Job(fn, args)
        with self._lock:
            if self._shut_down:
                raise RuntimeError("the hashing threads were shut down")
            if len(self._threads) < self._size:  # started as needed, like ThreadPoolExecutor
                thread = threading.Thread(target=self._work, name=f"argon2_{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._queue.put(job)
        return job.future

    def shutdown(self) -> None:
        """Cancel what has not started; each thread ends after its current job."""
        with self._lock:
            self._shut_down = True
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.future.cancel()
            for _ in self._threads:
                self._queue.put(None)

    def _work(self) -> None:
        hashed_since_release = False
        while True:
            try:
                job = self._queue.get(timeout=self._idle_release if hashed_since_release else None)
            except queue.Empty:
                self._memory.release()
                self.releases += 1
                hashed_since_release = False
                continue
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            hashed_since_release = True
            try:
                result = job.fn(*job.args)
            except BaseException as exc:  # handed to the caller, as ThreadPoolExecutor does
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)


class Argon2PasswordHasher:
    """Hashes and verifies with argon2id on `max_concurrent` dedicated threads, never on the event
    loop; once `max_queue` callers are already waiting, further ones get ServiceUnavailableError.
    `releases` counts the times an idle hashing thread gave its buffer back (see HashingMemory)."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int,
                 max_concurrent: int, max_queue: int, idle_release: float = IDLE_RELEASE_SECONDS) -> None:
        if max_concurrent < 1 or max_queue < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queue >= 0")
        self._argon2 = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                               type=Type.ID)
        self._capacity = max_concurrent + max_queue
        self.memory = HashingMemory(memory_kib * 1024)
        self._pool = _HashingThreads(max_concurrent, self.memory, idle_release)
        # Worker threads release slots and the pool may serve several event loops (CLI, tests).
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await self._run(self._verify, password_hash, password)

    @property
    def releases(self) -> int:
        return self._pool.releases

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
        self._pool.shutdown()

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

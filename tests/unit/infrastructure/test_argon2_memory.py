"""Where argon2's buffers live (glibc): resident while logins come, given back once idle."""

from __future__ import annotations

import asyncio
import platform
import resource
import sys

import pytest

from auth_service.infrastructure.security.argon2_hasher import Argon2PasswordHasher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="malloc arenas and thresholds are glibc's")

MEMORY_KIB = 19456  # the service's default ARGON2_MEMORY_KIB
PAGES = MEMORY_KIB // 4


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


async def test_a_busy_hashing_thread_reuses_its_buffer_instead_of_faulting_a_new_one_in() -> None:
    hasher = Argon2PasswordHasher(memory_kib=MEMORY_KIB, time_cost=1, parallelism=1, max_concurrent=1,
                                  max_queue=4, idle_release=60)
    try:
        assert hasher.memory.managed
        password_hash = await hasher.hash("correct horse")
        await hasher.verify(password_hash, "correct horse")
        before = _minor_faults()
        for _ in range(3):
            assert await hasher.verify(password_hash, "correct horse")
        # A fresh 19 MiB buffer per hash would fault ~4,900 pages in each time.
        assert _minor_faults() - before < PAGES // 2
    finally:
        hasher.close()


async def test_an_idle_hashing_thread_gives_its_buffer_back() -> None:
    hasher = Argon2PasswordHasher(memory_kib=MEMORY_KIB, time_cost=1, parallelism=1, max_concurrent=1,
                                  max_queue=4, idle_release=0.2)
    try:
        password_hash = await hasher.hash("correct horse")
        assert await hasher.verify(password_hash, "correct horse")
        busy = _resident_mib()
        for _ in range(50):
            await asyncio.sleep(0.05)
            if hasher.releases:
                break
        assert hasher.releases == 1
        assert busy - _resident_mib() > MEMORY_KIB / 1024 / 2  # most of the buffer is gone
        await asyncio.sleep(0.5)
        assert hasher.releases == 1  # once per idle period, not on every timeout
        assert await hasher.verify(password_hash, "correct horse")  # and hashing goes on
    finally:
        hasher.close()

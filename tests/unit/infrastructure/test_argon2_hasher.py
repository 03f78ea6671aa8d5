from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from auth_service.application.errors import ServiceUnavailableError
from auth_service.infrastructure.security.argon2_hasher import Argon2PasswordHasher

CHEAP = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


@pytest.fixture
def hasher() -> Iterator[Argon2PasswordHasher]:
    hasher = Argon2PasswordHasher(**CHEAP, max_concurrent=2, max_queue=8)
    yield hasher
    hasher.close()


async def test_a_hash_verifies_with_its_password(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("correct horse battery staple")

    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify(password_hash, "correct horse battery staple") is True


async def test_a_wrong_password_is_false_not_an_error(hasher: Argon2PasswordHasher) -> None:
    password_hash = await hasher.hash("correct horse battery staple")

    assert await hasher.verify(password_hash, "correct horse battery stapler") is False


async def test_a_garbled_hash_is_false_not_an_error(hasher: Argon2PasswordHasher) -> None:
    assert await hasher.verify("not-a-hash", "whatever") is False
    assert await hasher.verify("", "whatever") is False


async def test_the_same_password_hashes_differently_each_time(hasher: Argon2PasswordHasher) -> None:
    first, second = await hasher.hash("same password"), await hasher.hash("same password")

    assert first != second


async def test_a_hash_made_with_other_parameters_needs_a_rehash(hasher: Argon2PasswordHasher) -> None:
    stronger = Argon2PasswordHasher(memory_kib=2048, time_cost=2, parallelism=1,
                                    max_concurrent=1, max_queue=1)
    try:
        old_hash = await hasher.hash("correct horse battery staple")

        assert hasher.needs_rehash(old_hash) is False
        assert stronger.needs_rehash(old_hash) is True
        assert await stronger.verify(old_hash, "correct horse battery staple") is True
    finally:
        stronger.close()


def test_a_garbled_hash_needs_a_rehash(hasher: Argon2PasswordHasher) -> None:
    assert hasher.needs_rehash("not-a-hash") is True


async def test_callers_beyond_the_queue_get_service_unavailable() -> None:
    # Expensive enough that the first hash is still running when the last caller arrives.
    hasher = Argon2PasswordHasher(memory_kib=65536, time_cost=1, parallelism=1, max_concurrent=1, max_queue=1)
    try:
        results = await asyncio.gather(*(hasher.hash(f"password {i}") for i in range(5)),
                                       return_exceptions=True)
    finally:
        hasher.close()

    refused = [r for r in results if isinstance(r, ServiceUnavailableError)]
    hashed = [r for r in results if isinstance(r, str)]
    assert len(refused) >= 1
    assert len(hashed) >= 2  # one running, one waiting
    assert len(refused) + len(hashed) == 5


async def test_the_pool_accepts_work_again_once_the_burst_is_over() -> None:
    hasher = Argon2PasswordHasher(**CHEAP, max_concurrent=1, max_queue=0)
    try:
        await asyncio.gather(*(hasher.hash("x" * 12) for _ in range(4)), return_exceptions=True)

        password_hash = await hasher.hash("correct horse battery staple")
    finally:
        hasher.close()

    assert password_hash.startswith("$argon2id$")


async def test_hashing_leaves_the_event_loop_free() -> None:
    hasher = Argon2PasswordHasher(memory_kib=65536, time_cost=2, parallelism=1, max_concurrent=1, max_queue=1)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await hasher.hash("correct horse battery staple")
    finally:
        ticker.cancel()
        hasher.close()

    assert ticks >= 3


async def test_burn_costs_as_much_as_a_verify_and_goes_through_the_same_pool() -> None:
    hasher = Argon2PasswordHasher(memory_kib=16384, time_cost=2, parallelism=1, max_concurrent=1, max_queue=0)
    try:
        stored = await hasher.hash("correct horse battery staple")
        await hasher.burn("warm-up")  # the dummy hash is made on first use

        verify_times, burn_times = [], []
        for _ in range(3):
            start = time.perf_counter()
            await hasher.verify(stored, "wrong password!")
            verify_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            await hasher.burn("wrong password!")
            burn_times.append(time.perf_counter() - start)

        busy = asyncio.create_task(hasher.hash("keeps the only worker busy"))
        await asyncio.sleep(0)
        with pytest.raises(ServiceUnavailableError):
            await hasher.burn("unknown user's password")
        await busy
    finally:
        hasher.close()

    assert min(burn_times) >= 0.5 * min(verify_times)


async def test_a_closed_hasher_refuses_work() -> None:
    hasher = Argon2PasswordHasher(**CHEAP, max_concurrent=1, max_queue=1)
    hasher.close()

    with pytest.raises(ServiceUnavailableError):
        await hasher.hash("correct horse battery staple")

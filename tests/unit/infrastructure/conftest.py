"""Fakes and fixtures for the signing-key and access-token tests: an in-memory key table behind a
unit of work that only publishes on commit, a reversible SecretBox and a clock that tests move."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

import pytest

from auth_service.application.ports import StoredSigningKey
from auth_service.domain.audit import AuditRecord
from auth_service.infrastructure.security.keys import KeyStore, generate_signing_key
from tests.doubles import FakeSecretBox, FixedClock

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ACCESS_TOKEN_TTL = 900


class FakeKeyTable:
    """The committed state of the signing_keys table, and a lock standing in for the row lock."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredSigningKey] = {}
        self.audit: list[AuditRecord] = []
        self.commits = 0
        self.lock = asyncio.Lock()


class FakeKeyRepository:
    def __init__(self, rows: dict[str, StoredSigningKey], uow: FakeKeysUnitOfWork) -> None:
        self._rows, self._uow = rows, uow

    async def lock(self) -> None:
        await self._uow.acquire_lock()

    async def list_all(self) -> list[StoredSigningKey]:
        await asyncio.sleep(0)  # let concurrent transactions interleave, as a database would
        return [copy.deepcopy(row) for row in self._rows.values()]

    async def add(self, key: StoredSigningKey) -> None:
        self._rows[key.kid] = copy.deepcopy(key)

    async def revoke(self, kid: str, now: datetime) -> bool:
        row = self._rows.get(kid)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = now
        return True


class FakeAuditLog:
    def __init__(self, committed: list[AuditRecord]) -> None:
        self.records = committed

    async def add(self, record: AuditRecord) -> None:
        self.records.append(record)


class FakeKeysUnitOfWork:
    def __init__(self, table: FakeKeyTable) -> None:
        self._table = table
        self._locked = False

    async def __aenter__(self) -> Self:
        self._rows = copy.deepcopy(self._table.rows)
        self.keys = FakeKeyRepository(self._rows, self)
        self.audit = FakeAuditLog([])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._locked:
            self._table.lock.release()

    async def acquire_lock(self) -> None:
        await self._table.lock.acquire()
        self._locked = True
        self._rows.clear()
        self._rows.update(copy.deepcopy(self._table.rows))  # a locked read sees the latest commit

    async def commit(self) -> None:
        self._table.rows = copy.deepcopy(self._rows)
        self._table.audit.extend(self.audit.records)
        self.audit.records = []
        self._table.commits += 1


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOON)


@pytest.fixture
def secret_box() -> FakeSecretBox:
    return FakeSecretBox()


@pytest.fixture
def key_table() -> FakeKeyTable:
    return FakeKeyTable()


@pytest.fixture
def uow_factory(key_table: FakeKeyTable) -> Callable[[], FakeKeysUnitOfWork]:
    return lambda: FakeKeysUnitOfWork(key_table)


@pytest.fixture
def access_token_ttl() -> int:
    return ACCESS_TOKEN_TTL


@pytest.fixture
def key_store(secret_box: FakeSecretBox, access_token_ttl: int) -> KeyStore:
    return KeyStore(secret_box, access_token_ttl)


@pytest.fixture(scope="session")
def stored_keys() -> dict[str, StoredSigningKey]:
    """One key per algorithm, created at NOON under FakeSecretBox: RSA generation is slow."""
    return {alg: generate_signing_key(alg, FakeSecretBox(), NOON) for alg in ("RS256", "ES256", "EdDSA")}

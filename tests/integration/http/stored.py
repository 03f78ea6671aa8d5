"""Reading what the service stored, for rules no HTTP answer shows (statuses, hashes, audit)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from auth_service.bootstrap import Container


async def rows(container: Container, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with container.sessionmaker() as session:
        result = await session.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def one(container: Container, sql: str, **params: Any) -> dict[str, Any]:
    found = await rows(container, sql, **params)
    assert len(found) == 1, found
    return found[0]


async def count(container: Container, table: str) -> int:
    found = await one(container, f"SELECT count(*) AS n FROM {table}")
    return int(found["n"])


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON column as a dict: SQLite and asyncpg hand raw JSON over as text."""
    return dict(json.loads(value) if isinstance(value, str) else value)

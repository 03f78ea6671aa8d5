"""Read models straight from SQL (SQLAlchemy Core): no ORM entity load on read paths."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.application.views import UserView
from auth_service.domain.users import Role, Source, User, UserStatus
from auth_service.infrastructure.db.tables import UserRow

_users = UserRow.__table__


class SqlUserViews:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, user_id: str, now: datetime) -> UserView | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(_users).where(_users.c.id == user_id))).mappings().first()
        if row is None:
            return None
        values = dict(row)
        values.update(role=Role(values["role"]), status=UserStatus(values["status"]),
                      source=Source(values["source"]), profile=dict(values["profile"] or {}))
        return UserView.of(User(**values), now)

"""Read models straight from SQL (SQLAlchemy Core): no ORM entity load on read paths."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, and_, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import UserQuery
from auth_service.application.views import CompanyView, UserView
from auth_service.domain.users import UserStatus
from auth_service.infrastructure.db.engine import reads_engine
from auth_service.infrastructure.db.repositories import user_from_row
from auth_service.infrastructure.db.tables import CompanyRow, UserRow

_users = UserRow.__table__.c
_companies = CompanyRow.__table__.c
_SPACE: ColumnElement[str] = literal_column("' '")
_EMPTY: ColumnElement[str] = literal_column("''")

# The same expression as the trigram index of migration 0002, so PostgreSQL can use it for `q`.
SEARCH_TEXT = func.lower(_users.email + _SPACE + _users.username + _SPACE + func.coalesce(_users.first_name, _EMPTY)
                         + _SPACE + func.coalesce(_users.last_name, _EMPTY))

_SORTS = {
    "created_at": (_users.created_at.asc(), _users.id.asc()),
    "-created_at": (_users.created_at.desc(), _users.id.desc()),
    "email": (_users.email.asc(),),
    "-email": (_users.email.desc(),),
}


def _user_view(row: RowMapping, now: datetime) -> UserView:
    return UserView.of(user_from_row(row), now)


def _status_condition(status: str | None, now: datetime) -> ColumnElement[bool]:
    """Effective status: a pending user past its window counts as verification_expired."""
    pending, expired = UserStatus.PENDING.value, UserStatus.EXPIRED.value
    if status is None:
        return _users.status != UserStatus.DELETED.value  # lists leave deleted users out unless asked
    if status == pending:
        return and_(_users.status == pending, _users.pending_until > now)
    if status == expired:
        return or_(_users.status == expired, and_(_users.status == pending, _users.pending_until <= now))
    return _users.status == status


class SqlUserViews:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = reads_engine(engine)

    async def get(self, user_id: str, now: datetime) -> UserView | None:
        async with self._reads.connect() as connection:
            row = (await connection.execute(select(UserRow.__table__).where(_users.id == user_id))).mappings().first()
        return _user_view(row, now) if row is not None else None

    async def list(self, query: UserQuery, page: PageRequest, now: datetime) -> Page[UserView]:
        if query.restricted and query.only_company_id is None:
            return Page([], page.page, page.page_size, 0)  # a null company matches no one
        conditions = [_status_condition(query.status, now)]
        if query.restricted:
            conditions.append(_users.company_id == query.only_company_id)
        if query.company_id is not None:
            conditions.append(_users.company_id == query.company_id)
        if query.role is not None:
            conditions.append(_users.role == query.role)
        if query.q:
            conditions.append(SEARCH_TEXT.contains(query.q.strip().lower(), autoescape=True))
        total_stmt = select(func.count()).select_from(UserRow.__table__).where(*conditions)
        items_stmt = (select(UserRow.__table__).where(*conditions).order_by(*_SORTS[query.sort])
                      .limit(page.page_size).offset(page.offset))
        async with self._engine.connect() as connection:
            total = int((await connection.execute(total_stmt)).scalar_one())
            rows = (await connection.execute(items_stmt)).mappings().all()
        return Page([_user_view(row, now) for row in rows], page.page, page.page_size, total)


class SqlCompanyViews:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @staticmethod
    def _select() -> Any:
        members = (select(func.count()).where(_users.company_id == _companies.id,
                                              _users.status != UserStatus.DELETED.value)
                   .scalar_subquery().label("user_count"))
        return select(_companies.id, _companies.name, _companies.description, _companies.owner_user_id,
                      _companies.is_active, members, _companies.created_at, _companies.updated_at
                      ).where(_companies.deleted_at.is_(None))

    async def get(self, company_id: str) -> CompanyView | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(self._select().where(_companies.id == company_id))).mappings().first()
        return CompanyView(**row) if row is not None else None

    async def list(self, only_company_id: str | None, restricted: bool, page: PageRequest) -> Page[CompanyView]:
        if restricted and only_company_id is None:
            return Page([], page.page, page.page_size, 0)
        conditions: list[ColumnElement[bool]] = [_companies.deleted_at.is_(None)]
        if restricted:
            conditions.append(_companies.id == only_company_id)
        total_stmt = select(func.count()).select_from(CompanyRow.__table__).where(*conditions)
        items_stmt = (self._select().where(*conditions).order_by(_companies.name_key, _companies.id)
                      .limit(page.page_size).offset(page.offset))
        async with self._engine.connect() as connection:
            total = int((await connection.execute(total_stmt)).scalar_one())
            rows = (await connection.execute(items_stmt)).mappings().all()
        return Page([CompanyView(**row) for row in rows], page.page, page.page_size, total)

"""Audit search, export and statistics straight from SQL (SPEC §6). Export walks keyset pages
(occurred_at, id), so memory stays flat however many millions of rows match."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, and_, cast, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import AuditQuery
from auth_service.application.views import AuditStatistics, AuditView
from auth_service.infrastructure.db.tables import AuditLogRow

_audit = AuditLogRow.__table__
_c = _audit.c
_COLUMNS = (_c.id, _c.occurred_at, _c.action, _c.outcome, _c.actor_id, _c.target_type, _c.target_id, _c.company_id,
            _c.ip, _c.user_agent, _c.trace_id, _c.details)
EXPORT_CHUNK = 1000


def _view(row: Sequence[Any]) -> AuditView:
    # Positional, in the order of _COLUMNS: exports build millions of these, so no dict per row.
    (id_, occurred_at, action, outcome, actor_id, target_type, target_id, company_id, ip, user_agent, trace_id,
     details) = row
    return AuditView(id_, occurred_at, action, outcome, actor_id, target_type, target_id, company_id, ip,
                     user_agent, trace_id, details or {})


def conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.restricted:
        # A partner sees its company's records; a caller without a company sees none.
        where.append(_c.company_id == query.only_company_id if query.only_company_id else _c.id.is_(None))
    if query.actions:
        where.append(_c.action.in_(query.actions))
    for column, value in ((_c.outcome, query.outcome), (_c.actor_id, query.actor_id),
                          (_c.target_type, query.target_type), (_c.target_id, query.target_id),
                          (_c.company_id, query.company_id), (_c.ip, query.ip)):
        if value is not None:
            where.append(column == value)
    if query.since is not None:
        where.append(_c.occurred_at >= query.since)
    if query.until is not None:
        where.append(_c.occurred_at < query.until)
    if query.involving_user_id is not None:
        where.append(or_(_c.actor_id == query.involving_user_id,
                         and_(_c.target_type == "user", _c.target_id == query.involving_user_id)))
    return where


def _newest_first(stmt: Select[Any]) -> Select[Any]:
    return stmt.order_by(_c.occurred_at.desc(), _c.id.desc())


class SqlAuditViews:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def search(self, query: AuditQuery, page: PageRequest) -> Page[AuditView]:
        where = conditions(query)
        async with self._engine.connect() as connection:
            total = int((await connection.execute(select(func.count()).select_from(_audit).where(*where)))
                        .scalar_one())
            rows = (await connection.execute(_newest_first(select(*_COLUMNS).where(*where))
                                             .limit(page.page_size).offset(page.offset))).all()
        return Page([_view(row) for row in rows], page.page, page.page_size, total)

    async def stream(self, query: AuditQuery) -> AsyncIterator[list[AuditView]]:
        where = conditions(query)
        after: tuple[datetime, str] | None = None
        while True:
            stmt = select(*_COLUMNS).where(*where)
            if after is not None:
                stmt = stmt.where(tuple_(_c.occurred_at, _c.id) < after)
            # A connection per chunk: a slow client never pins a database connection.
            async with self._engine.connect() as connection:
                rows = (await connection.execute(_newest_first(stmt).limit(EXPORT_CHUNK))).all()
            if not rows:
                return
            chunk = [_view(row) for row in rows]
            yield chunk
            if len(rows) < EXPORT_CHUNK:
                return
            after = (chunk[-1].occurred_at, chunk[-1].id)

    async def statistics(self, query: AuditQuery) -> AuditStatistics:
        where = conditions(query)
        async with self._engine.connect() as connection:
            # Days in UTC: a PostgreSQL session's time zone would otherwise decide where a day ends.
            day = (func.date(_c.occurred_at) if connection.dialect.name == "sqlite"
                   else cast(func.timezone("UTC", _c.occurred_at), Date))
            by_action: dict[str, int] = {action: int(n) for action, n in (await connection.execute(
                select(_c.action, func.count()).where(*where).group_by(_c.action))).all()}
            by_outcome: dict[str, int] = {outcome: int(n) for outcome, n in (await connection.execute(
                select(_c.outcome, func.count()).where(*where).group_by(_c.outcome))).all()}
            days = (await connection.execute(
                select(day.label("day"), func.count()).where(*where).group_by("day").order_by("day"))).all()
        return AuditStatistics(
            total=sum(by_action.values()), by_action=by_action, by_outcome=by_outcome,
            by_day=[(str(d), int(n)) for d, n in days],
            failed_logins=by_action.get("auth.login_failed", 0),
            locked_accounts=by_action.get("auth.account_locked", 0))

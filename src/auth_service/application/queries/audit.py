"""Reading the audit trail (SPEC §6): search, streamed export, statistics, and a user's own log."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth_service.application.access import require
from auth_service.application.audit import audit_record
from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import AuditQuery, AuditViews, Clock, RequestContext, UnitOfWork
from auth_service.application.views import AuditStatistics, AuditView
from auth_service.domain.authorization import Permission, company_filter
from auth_service.domain.principal import Principal

STATISTICS_DEFAULT_RANGE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actions: tuple[str, ...] = ()
    outcome: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    company_id: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _scoped(principal: Principal, permission: Permission, filters: AuditFilters) -> AuditQuery:
    """Filters only narrow what the caller may see: partners get their own company's records."""
    require(principal, permission)
    restricted, own_company = company_filter(principal, permission)
    return AuditQuery(only_company_id=own_company, restricted=restricted,
                      **{f.name: getattr(filters, f.name) for f in dataclasses.fields(filters)})


class AuditQueries:
    def __init__(self, views: AuditViews, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._views, self._uow, self._clock = views, uow, clock

    async def search(self, principal: Principal, filters: AuditFilters, page: PageRequest) -> Page[AuditView]:
        return await self._views.search(_scoped(principal, Permission.AUDIT_READ, filters), page)

    async def export(self, principal: Principal, filters: AuditFilters, fmt: str,
                     ctx: RequestContext) -> AsyncIterator[list[AuditView]]:
        """Record the export (who took what), then stream the records newest first."""
        query = _scoped(principal, Permission.AUDIT_EXPORT, filters)
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.audit.add(audit_record(
                "audit.exported", ctx, now, actor_id=principal.user_id, target_type="audit",
                company_id=principal.company_id, format=fmt,
                filters={k: (v.isoformat() if isinstance(v, datetime) else v)
                         for k, v in dataclasses.asdict(filters).items() if v not in (None, ())}))
            await uow.commit()
        return self._views.stream(query)

    async def statistics(self, principal: Principal, filters: AuditFilters) -> AuditStatistics:
        now = self._clock.now()
        if filters.since is None and filters.until is None:
            filters = dataclasses.replace(filters, since=now - STATISTICS_DEFAULT_RANGE)
        return await self._views.statistics(_scoped(principal, Permission.AUDIT_READ, filters))

    async def own(self, principal: Principal, page: PageRequest) -> Page[AuditView]:
        """The records where the caller is actor or target; another actor's ip and user agent are
        left out (they would reveal where an admin works from)."""
        result = await self._views.search(AuditQuery(involving_user_id=principal.user_id), page)
        items = [view if view.actor_id == principal.user_id else dataclasses.replace(view, ip=None, user_agent=None)
                 for view in result.items]
        return dataclasses.replace(result, items=items)

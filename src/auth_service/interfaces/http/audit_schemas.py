"""Response models of the audit API (SPEC §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from auth_service.application.pagination import Page
from auth_service.application.views import AuditStatistics, AuditView


class AuditRecordResponse(BaseModel):
    id: str
    occurred_at: datetime
    action: str
    outcome: str
    actor_id: str | None
    target_type: str | None
    target_id: str | None
    company_id: str | None
    ip: str | None
    user_agent: str | None
    trace_id: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, view: AuditView) -> AuditRecordResponse:
        return cls.model_validate(view, from_attributes=True)


class AuditListResponse(BaseModel):
    items: list[AuditRecordResponse]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[AuditView]) -> AuditListResponse:
        return cls(items=[AuditRecordResponse.of(v) for v in page.items], page=page.page, page_size=page.page_size,
                   total=page.total)


class DayCount(BaseModel):
    date: str
    count: int


class AuditStatisticsResponse(BaseModel):
    total: int
    by_action: dict[str, int]
    by_outcome: dict[str, int]
    by_day: list[DayCount]
    failed_logins: int
    locked_accounts: int

    @classmethod
    def of(cls, stats: AuditStatistics) -> AuditStatisticsResponse:
        return cls(total=stats.total, by_action=stats.by_action, by_outcome=stats.by_outcome,
                   by_day=[DayCount(date=d, count=n) for d, n in stats.by_day], failed_logins=stats.failed_logins,
                   locked_accounts=stats.locked_accounts)

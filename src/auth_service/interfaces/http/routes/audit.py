"""/api/v1/audit and /api/v1/security/audit-log (SPEC §6)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from auth_service.application.queries.audit import AuditFilters
from auth_service.application.views import AuditView
from auth_service.interfaces.http.audit_schemas import AuditListResponse, AuditStatisticsResponse
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.routes.users import PageDep

router = APIRouter(prefix="/audit", tags=["audit"])
security_router = APIRouter(prefix="/security", tags=["security"])

CSV_COLUMNS = ("id", "occurred_at", "action", "outcome", "actor_id", "target_type", "target_id", "company_id", "ip",
               "user_agent", "trace_id", "details")
Text = Annotated[str | None, Query(max_length=128)]
_NUMBER = re.compile(r"\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*", re.IGNORECASE)


def _rfc3339(value: object) -> object:
    """RFC 3339 only (SPEC §2): pydantic alone would also read a number as a Unix timestamp."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time")
    return value


Moment = Annotated[datetime | None, BeforeValidator(_rfc3339)]


async def audit_filters(
    action: Annotated[str | None, Query(max_length=1024, description="Comma-separated actions.")] = None,
    outcome: Literal["success", "failure"] | None = None,
    actor_id: Text = None,
    target_type: Literal["user", "company", "session", "audit", "key"] | None = None,
    target_id: Text = None,
    company_id: Text = None,
    ip: Annotated[str | None, Query(max_length=45)] = None,
    since: Annotated[Moment, Query(alias="from")] = None,
    until: Annotated[Moment, Query(alias="to")] = None,
) -> AuditFilters:
    actions = tuple(a.strip() for a in (action or "").split(",") if a.strip())
    return AuditFilters(actions=actions, outcome=outcome, actor_id=actor_id, target_type=target_type,
                        target_id=target_id, company_id=company_id, ip=ip, since=_utc(since), until=_utc(until))


def _utc(moment: datetime | None) -> datetime | None:
    """Times are UTC (SPEC §2): one without an offset is read as UTC rather than refused."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("/logs", responses=errors(401, 403, 422))
async def list_logs(principal: PrincipalDep, handlers: HandlersDep, filters: FiltersDep,
                    page: PageDep) -> AuditListResponse:
    """Newest first."""
    return AuditListResponse.of(await handlers.audit.search(principal, filters, page))


@router.get("/logs/export", response_class=StreamingResponse, responses={**errors(401, 403, 422), 200: {
    "description": "CSV (default) or NDJSON, streamed.",
    "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def export_logs(principal: PrincipalDep, handlers: HandlersDep, filters: FiltersDep, ctx: ContextDep,
                      format: Literal["csv", "ndjson"] = "csv") -> StreamingResponse:
    chunks = await handlers.audit.export(principal, filters, format, ctx)
    body = _csv(chunks) if format == "csv" else _ndjson(chunks)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="audit-logs.{format}"'})


@router.get("/statistics", responses=errors(401, 403, 422))
async def statistics(principal: PrincipalDep, handlers: HandlersDep, filters: FiltersDep) -> AuditStatisticsResponse:
    """Counts over `from`..`to` (default: the last 30 days)."""
    return AuditStatisticsResponse.of(await handlers.audit.statistics(principal, filters))


@security_router.get("/audit-log", responses=errors(401, 422))
async def own_audit_log(principal: PrincipalDep, handlers: HandlersDep, page: PageDep) -> AuditListResponse:
    return AuditListResponse.of(await handlers.audit.own(principal, page))


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NDJSON = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE


def _safe(text: str | None) -> str:
    """CSV injection: a spreadsheet would run a cell starting with one of these as a formula."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_row(view: AuditView) -> tuple[str, ...]:
    # id, time, action and outcome are the service's own values; every other cell may carry what a
    # client sent (user agent, trace id) or stored (names in details), so each is neutralised.
    return (view.id, view.occurred_at.isoformat().replace("+00:00", "Z"), view.action, view.outcome,
            _safe(view.actor_id), _safe(view.target_type), _safe(view.target_id), _safe(view.company_id),
            _safe(view.ip), _safe(view.user_agent), _safe(view.trace_id), _safe(orjson.dumps(view.details).decode()))


async def _csv(chunks: AsyncIterator[list[AuditView]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for chunk in chunks:
        writer.writerows(_csv_row(view) for view in chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # only the header: nothing matched
        yield buffer.getvalue()


async def _ndjson(chunks: AsyncIterator[list[AuditView]]) -> AsyncIterator[bytes]:
    # orjson writes the view dataclass as it is: the fields of CSV_COLUMNS, times in RFC 3339 with Z.
    async for chunk in chunks:
        yield b"".join(orjson.dumps(view, option=_NDJSON) for view in chunk)

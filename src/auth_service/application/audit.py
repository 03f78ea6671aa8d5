"""Building audit records (SPEC §6). Details never hold a password, token, code or hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auth_service.application.ports import RequestContext
from auth_service.domain.audit import AuditRecord


def audit_record(
    action: str,
    ctx: RequestContext,
    now: datetime,
    *,
    outcome: str = "success",
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    company_id: str | None = None,
    **details: Any,
) -> AuditRecord:
    return AuditRecord(
        action=action, outcome=outcome, occurred_at=now, actor_id=actor_id, target_type=target_type,
        target_id=target_id, company_id=company_id, ip=ctx.ip, user_agent=ctx.user_agent,
        trace_id=ctx.trace_id, details=details,
    )

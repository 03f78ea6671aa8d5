"""An audit record (SPEC §6): what happened, who did it, to what, from where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auth_service.domain.ids import new_audit_id


@dataclass(frozen=True, slots=True)
class AuditRecord:
    action: str
    outcome: str
    occurred_at: datetime
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    company_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    trace_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_audit_id)

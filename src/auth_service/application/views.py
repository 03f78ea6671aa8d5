"""Read models returned by queries and embedded in responses (the user object of SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auth_service.domain.users import User, UserStatus


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    email: str
    username: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    photo: str | None
    role: str
    company_id: str | None
    network_id: str
    station_id: str
    source: str
    status: str
    is_verified: bool
    is_active: bool
    mfa_enabled: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    last_login_at: datetime | None
    profile: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, user: User, now: datetime) -> UserView:
        status = user.effective_status(now)
        return cls(
            id=user.id, email=user.email, username=user.username, first_name=user.first_name,
            last_name=user.last_name, phone=user.phone, photo=user.photo, role=user.role.value,
            company_id=user.company_id, network_id=user.network_id, station_id=user.station_id,
            source=user.source.value, status=status.value, is_verified=user.is_verified,
            is_active=status is UserStatus.ACTIVE, mfa_enabled=user.mfa_enabled, created_at=user.created_at,
            updated_at=user.updated_at, created_by=user.created_by, updated_by=user.updated_by,
            last_login_at=user.last_login_at, profile=dict(user.profile),
        )


@dataclass(frozen=True, slots=True)
class MySessionView:
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


@dataclass(frozen=True, slots=True)
class CompanyView:
    id: str
    name: str
    description: str | None
    owner_user_id: str | None
    is_active: bool
    user_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditView:
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


@dataclass(frozen=True, slots=True)
class AuditStatistics:
    total: int
    by_action: dict[str, int]
    by_outcome: dict[str, int]
    by_day: list[tuple[str, int]]
    failed_logins: int
    locked_accounts: int

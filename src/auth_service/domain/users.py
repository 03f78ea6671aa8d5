"""The user account and its lifecycle rules (SPEC §3, §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from auth_service.domain.ids import new_user_id


class Role(StrEnum):
    ADMIN = "admin"
    PARTNER = "partner"
    OPERATOR = "operator"
    USER = "user"


class UserStatus(StrEnum):
    PENDING = "pending_verification"
    ACTIVE = "active"
    EXPIRED = "verification_expired"
    DISABLED = "disabled"
    DELETED = "deleted"


class Source(StrEnum):
    WEB = "web"
    INTERNAL = "internal"


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased: emails compare case-insensitively (SPEC §2)."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(_EMAIL.fullmatch(email))


@dataclass(slots=True)
class User:
    id: str
    email: str
    username: str
    password_hash: str | None
    role: Role
    status: UserStatus
    source: Source
    created_at: datetime
    updated_at: datetime
    is_verified: bool = False
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    photo: str | None = None
    company_id: str | None = None
    network_id: str = ""
    station_id: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    mfa_enabled: bool = False
    pending_until: datetime | None = None
    created_by: str | None = None
    updated_by: str | None = None
    last_login_at: datetime | None = None
    deleted_at: datetime | None = None
    keycloak_id: str | None = None
    totp_secret_enc: str | None = None  # set while enrolling and while MFA is on; encrypted at rest
    totp_last_step: int | None = None  # the last TOTP step accepted: each code works once

    @classmethod
    def register(
        cls,
        email: str,
        password_hash: str | None,
        *,
        now: datetime,
        verification_ttl: timedelta,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
    ) -> User:
        return cls(
            id=new_user_id(),
            email=email,
            username=username or email,
            password_hash=password_hash,
            role=Role.USER,
            status=UserStatus.PENDING,
            source=Source.WEB,
            created_at=now,
            updated_at=now,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            pending_until=now + verification_ttl,
        )

    @classmethod
    def from_provider(cls, keycloak_id: str, email: str, username: str, *, role: Role, now: datetime,
                      first_name: str | None = None, last_name: str | None = None) -> User:
        """A verified account the identity provider already holds, seen here for the first time."""
        return cls(id=new_user_id(), email=email, username=username or email, password_hash=None, role=role,
                   status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=now, updated_at=now,
                   is_verified=True, first_name=first_name, last_name=last_name, keycloak_id=keycloak_id)

    def effective_status(self, now: datetime) -> UserStatus:
        """A pending user past its window counts as verification_expired everywhere."""
        if self.status is UserStatus.PENDING and self.pending_until is not None and now >= self.pending_until:
            return UserStatus.EXPIRED
        return self.status

    def reregister(self, password_hash: str | None, *, now: datetime, verification_ttl: timedelta,
                   username: str | None, first_name: str | None, last_name: str | None,
                   phone: str | None) -> None:
        """Reuse the row of an expired registration: same id, new password and window."""
        self.password_hash = password_hash
        self.username = username or self.email
        self.first_name, self.last_name, self.phone = first_name, last_name, phone
        self.status = UserStatus.PENDING
        self.pending_until = now + verification_ttl
        self.updated_at = now

    def mark_verified(self, now: datetime) -> None:
        self.status = UserStatus.ACTIVE
        self.is_verified = True
        self.pending_until = None
        self.updated_at = now

    def mark_verification_expired(self, now: datetime) -> None:
        self.status = UserStatus.EXPIRED
        self.updated_at = now

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

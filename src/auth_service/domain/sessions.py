"""Sessions and refresh tokens, with their lifetime rules (SPEC §3 Refresh)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auth_service.domain.ids import new_session_id


@dataclass(slots=True)
class Session:
    id: str
    user_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime  # the hard cap: SESSION_MAX_LIFETIME from login, whatever the refreshes
    ip: str | None = None
    user_agent: str | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    external_sid: str | None = None

    @classmethod
    def start(cls, user_id: str, *, now: datetime, max_lifetime: timedelta, ip: str | None,
              user_agent: str | None) -> Session:
        return cls(id=new_session_id(), user_id=user_id, created_at=now, last_used_at=now,
                   expires_at=now + max_lifetime, ip=ip, user_agent=(user_agent or "")[:512] or None)

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def capped(self, now: datetime, ttl: timedelta) -> datetime:
        """An expiry `ttl` from now that never goes past the session's own end."""
        return min(now + ttl, self.expires_at)


@dataclass(slots=True)
class RefreshToken:
    token_hash: str
    session_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    successor_hash: str | None = None
    successor_enc: str | None = None  # encrypted successor, kept REFRESH_REUSE_INTERVAL for retries

"""The knobs the use cases obey, in domain units (built from Settings by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from auth_service.domain.lockout import LockoutPolicy


@dataclass(frozen=True, slots=True)
class AuthConfig:
    access_token_ttl: timedelta = timedelta(seconds=900)
    refresh_token_ttl: timedelta = timedelta(days=7)
    refresh_reuse_interval: timedelta = timedelta(seconds=10)
    session_max_lifetime: timedelta = timedelta(days=30)
    verification_ttl: timedelta = timedelta(hours=24)
    resend_cooldown: timedelta = timedelta(seconds=60)
    resend_max: int = 5
    verification_max_attempts: int = 5
    reset_token_ttl: timedelta = timedelta(hours=1)
    invitation_ttl: timedelta = timedelta(days=7)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    frontend_base: str = "http://localhost:3000"

"""Failure counting per submitted email, known or not (SPEC §3 Lockout), as pure rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    threshold: int = 5
    base: timedelta = timedelta(seconds=60)
    maximum: timedelta = timedelta(seconds=900)
    reset_after: timedelta = timedelta(hours=12)


@dataclass(slots=True)
class FailureCounter:
    key: str
    failures: int = 0
    level: int = 0  # how many locks so far; each later lock lasts twice as long
    locked_until: datetime | None = None
    last_failure_at: datetime | None = None

    def retry_after(self, now: datetime) -> int | None:
        """Seconds until the lock ends, or None when the email is not locked."""
        if self.locked_until is None or now >= self.locked_until:
            return None
        return max(1, math.ceil((self.locked_until - now).total_seconds()))

    def record_failure(self, now: datetime, policy: LockoutPolicy) -> bool:
        """Count one failure; True when it starts a new lock. Never called during a lock."""
        if self.last_failure_at is not None and now - self.last_failure_at > policy.reset_after:
            self.failures, self.level, self.locked_until = 0, 0, None
        self.failures += 1
        self.last_failure_at = now
        if self.level == 0 and self.failures < policy.threshold:
            return False
        self.level += 1
        duration = min(policy.base * (2 ** (self.level - 1)), policy.maximum)
        self.locked_until = now + duration
        return True

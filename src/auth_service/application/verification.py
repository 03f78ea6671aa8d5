"""Keys and hashes of the verification flow, shared by register, verify and resend."""

from __future__ import annotations

import hmac
import math
from datetime import datetime, timedelta

from auth_service.application.ports import ResendThrottle, Secrets


class VerificationCodes:
    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets

    def token_hash(self, token: str) -> str:
        return self._secrets.digest(token, purpose="verify-email")

    def code_hash(self, registration_id: str, code: str) -> str:
        # Bound to the registration: a 6-digit code alone is guessable from a stolen table.
        return self._secrets.digest(f"{registration_id}:{code}", purpose="verify-code")

    def code_matches(self, registration_id: str, code: str, expected_hash: str) -> bool:
        return hmac.compare_digest(self.code_hash(registration_id, code), expected_hash)

    def resend_key(self, email: str) -> str:
        return "resend:" + self._secrets.digest(email, purpose="resend")

    def attempts_key(self, email: str) -> str:
        return "verify-code:" + self._secrets.digest(email, purpose="verify-code-attempts")


def resend_wait(throttle: ResendThrottle, now: datetime, cooldown: timedelta, maximum: int) -> int:
    """Seconds until a resend is allowed for this email (0 when allowed now)."""
    waits = [0.0]
    if throttle.last_sent_at is not None:
        waits.append((throttle.last_sent_at + cooldown - now).total_seconds())
    if throttle.window_ends_at is not None and now < throttle.window_ends_at and throttle.count >= maximum:
        waits.append((throttle.window_ends_at - now).total_seconds())
    return max(0, math.ceil(max(waits)))

"""RFC 6238 TOTP (30 s steps, 6 digits, ±1 step) with pyotp."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DIGITS = 6
ISSUER = "auth-service"


class PyotpTotp:
    def new_secret(self) -> str:
        return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends

    def provisioning_uri(self, secret: str, account: str) -> str:
        return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
            name=account, issuer_name=ISSUER)

    def matching_step(self, secret: str, code: str, now: datetime) -> int | None:
        """The time step (now, or one either side) whose code this is; None if none matches."""
        if len(code) != DIGITS or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
        step = int(now.timestamp()) // STEP_SECONDS
        for candidate in (step, step - 1, step + 1):
            if hmac.compare_digest(totp.generate_otp(candidate), code):
                return candidate
        return None

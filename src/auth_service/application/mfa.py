"""Second-factor checks shared by the MFA settings and the login challenge (SPEC §7): a TOTP code
is accepted once (its step is stored), a backup code once (it is marked used)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from auth_service.application.ports import SecretBox, Secrets, Totp, UnitOfWork
from auth_service.domain.users import User

TOTP_PURPOSE = "totp-secret"
BACKUP_PURPOSE = "mfa-backup-code"
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


def new_backup_codes() -> list[str]:
    codes = ("".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10)) for _ in range(BACKUP_CODE_COUNT))
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def normalize_backup_code(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """Checks codes against a user's enrolled TOTP secret and backup codes."""

    box: SecretBox
    secrets: Secrets
    totp: Totp

    def backup_hash(self, user_id: str, code: str) -> str:
        return self.secrets.digest(f"{user_id}:{normalize_backup_code(code)}", purpose=BACKUP_PURPOSE)

    def secret_of(self, user: User) -> str | None:
        if user.totp_secret_enc is None:
            return None
        return self.box.decrypt(user.totp_secret_enc, purpose=TOTP_PURPOSE).decode()

    async def accept_totp(self, uow: UnitOfWork, user: User, code: str, now: datetime) -> bool:
        secret = self.secret_of(user)
        step = self.totp.matching_step(secret, code.strip(), now) if secret else None
        # A replay of a code in the same (or an older) step is refused.
        return step is not None and await uow.mfa.accept_totp_step(user.id, step)

    async def accept(self, uow: UnitOfWork, user: User, code: str, now: datetime,
                     *, backup_allowed: bool = True) -> str | None:
        """The method that accepted `code` ("totp" or "backup_code"), or None."""
        if await self.accept_totp(uow, user, code, now):
            return "totp"
        if backup_allowed and await uow.mfa.use_backup_code(user.id, self.backup_hash(user.id, code), now):
            return "backup_code"
        return None

    async def issue_backup_codes(self, uow: UnitOfWork, user: User, now: datetime) -> list[str]:
        codes = new_backup_codes()
        await uow.mfa.replace_backup_codes(user.id, [self.backup_hash(user.id, c) for c in codes], now)
        return codes

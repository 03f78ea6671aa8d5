"""Checking a new password for an account and making its credential (register, reset, change, create)."""

from __future__ import annotations

from auth_service.application.ports import IdentityProvider, PasswordPolicy
from auth_service.domain.passwords import normalize_password
from auth_service.domain.users import User


async def new_credential(policy: PasswordPolicy, identity: IdentityProvider, password: str,
                         user: User) -> tuple[str, str | None]:
    """Raise WeakPasswordError / BreachedPasswordError, else return the normalised password and
    what this database stores for it (its argon2id hash; None when the identity provider keeps it).
    Called outside transactions: hashing is slow on purpose."""
    normalized = normalize_password(password)
    await policy.check(normalized, [user.email, user.username, user.first_name or "", user.last_name or ""])
    return normalized, await identity.credential(normalized)

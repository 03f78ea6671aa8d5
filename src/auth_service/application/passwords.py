"""Checking and hashing a new password for an account (register, reset, change, create)."""

from __future__ import annotations

from auth_service.application.ports import PasswordHasher, PasswordPolicy
from auth_service.domain.passwords import normalize_password
from auth_service.domain.users import User


async def hash_new_password(policy: PasswordPolicy, hasher: PasswordHasher, password: str, user: User) -> str:
    """Raise WeakPasswordError / BreachedPasswordError, else return the argon2id hash."""
    normalized = normalize_password(password)
    await policy.check(normalized, [user.email, user.username, user.first_name or "", user.last_name or ""])
    return await hasher.hash(normalized)

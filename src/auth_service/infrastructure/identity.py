"""Local identity mode: accounts, argon2id password hashes and sessions live in this service's own
database and the tokens are this service's own, so there is nothing to mirror elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from auth_service.application.ports import (
    NewSession,
    PasswordCheck,
    PasswordHasher,
    ProviderAccount,
    RequestContext,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.sessions import Session
from auth_service.domain.users import User


class LocalIdentityProvider:
    def __init__(self, hasher: PasswordHasher, minter: TokenMinter) -> None:
        self._hasher, self._minter = hasher, minter

    async def ensure_email_free(self, email: str) -> None:
        return None  # the users table is the only place accounts live

    async def credential(self, password: str) -> str | None:
        return await self._hasher.hash(password)

    async def create(self, user: User, password: str | None) -> None:
        return None

    async def remove(self, user: User) -> None:
        return None

    async def mark_verified(self, user: User) -> None:
        return None

    async def sync(self, user: User) -> None:
        return None

    async def set_password(self, user: User, password: str) -> None:
        return None

    async def accounts(self) -> AsyncIterator[ProviderAccount]:
        none: tuple[ProviderAccount, ...] = ()  # every account already lives here
        for account in none:
            yield account

    async def check_password(self, user: User | None, email: str, password: str) -> PasswordCheck:
        if user is None or user.password_hash is None:
            await self._hasher.burn(password)  # same time as a wrong password: no enumeration
            return PasswordCheck(matches=False)
        if not await self._hasher.verify(user.password_hash, password):
            return PasswordCheck(matches=False)
        # A new hash when the hashing parameters changed: upgraded on login.
        new_hash = await self._hasher.hash(password) if self._hasher.needs_rehash(user.password_hash) else None
        return PasswordCheck(matches=True, new_hash=new_hash)

    async def abandon(self, check: PasswordCheck) -> None:
        return None

    async def open_session(self, user: User, ctx: RequestContext, now: datetime,
                           check: PasswordCheck) -> NewSession:
        return self._minter.new_session(user.id, ctx, now, check)

    async def end_sessions(self, user: User, sessions: Sequence[Session] | None) -> None:
        return None  # revoked in the database and the revocation list: nothing else holds them

    async def revoke_at_provider(self, token: str) -> str | None:
        return None  # every token of ours is known to this database

"""Local identity mode: accounts and passwords live in this service's own database, so the
identity provider has nothing to mirror elsewhere."""

from __future__ import annotations

from auth_service.domain.users import User


class LocalIdentityProvider:
    async def mark_verified(self, user: User) -> None:
        return None

    async def discard_pending(self, user: User) -> None:
        return None

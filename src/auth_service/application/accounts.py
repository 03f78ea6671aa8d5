"""Creating an account in two systems, this database and the identity provider, so that a failure
in either leaves nothing behind in the other (SPEC §9.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from auth_service.application.ports import IdentityProvider, ProviderAccount
from auth_service.domain.users import Role, User

log = structlog.get_logger(__name__)


def role_from(account: ProviderAccount) -> Role:
    """The role a provider admin set in the `roles` attribute (only admins may edit it), else user.
    Partner and operator need a company, which only this service assigns: those start as user."""
    roles = account.attributes.get("roles") or []
    return Role.ADMIN if roles and roles[0] == Role.ADMIN.value else Role.USER


@asynccontextmanager
async def provider_account(identity: IdentityProvider, user: User, password: str | None) -> AsyncIterator[None]:
    """Create the provider's account, then run the block (the database writes and the commit);
    if the block fails or is cancelled, delete the provider's account again."""
    await identity.create(user, password)
    try:
        yield
    except BaseException:
        try:
            await asyncio.shield(identity.remove(user))
        except Exception as exc:  # the original failure is the one to report
            log.error("identity_compensation_failed", user_id=user.id, error=type(exc).__name__)
        raise

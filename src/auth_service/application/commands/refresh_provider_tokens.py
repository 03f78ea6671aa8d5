"""Refresh in Keycloak mode (SPEC §9.4): Keycloak's own refresh rules apply to the token; this
service still decides whether the session and the account may go on, and records the refresh."""

from __future__ import annotations

from collections.abc import Callable

from auth_service.application.audit import audit_record
from auth_service.application.commands.refresh_tokens import RefreshTokens, live_session
from auth_service.application.ports import (
    Clock,
    IssuedTokens,
    ProviderTokenEndpoint,
    RateLimiter,
    UnitOfWork,
)
from auth_service.domain.ids import session_id_for


class ProviderRefreshHandler:
    """Raises InvalidTokenError, TokenExpiredError, TokenRevokedError, ServiceUnavailableError."""

    def __init__(self, uow: Callable[[], UnitOfWork], endpoint: ProviderTokenEndpoint, clock: Clock,
                 limiter: RateLimiter) -> None:
        self._uow, self._endpoint, self._clock, self._limiter = uow, endpoint, clock, limiter

    async def __call__(self, cmd: RefreshTokens) -> IssuedTokens:
        grant = await self._endpoint.refresh(cmd.refresh_token)
        session_id = session_id_for(grant.session_id)
        await self._limiter.hit("refresh", session_id)  # RATE_LIMIT_REFRESH per session (SPEC §7)
        now = self._clock.now()
        async with self._uow() as uow:
            session, user = await live_session(uow, session_id, now)
            await uow.sessions.touch(session.id, now)
            await uow.audit.add(audit_record("auth.token_refreshed", cmd.ctx, now, actor_id=user.id,
                                             target_type="session", target_id=session.id,
                                             company_id=user.company_id))
            await uow.commit()
        return grant.issued(session.id, user)

"""Refresh-token rotation with a reuse interval and replay detection (SPEC §3 Refresh)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from auth_service.application.audit import audit_record
from auth_service.application.config import AuthConfig
from auth_service.application.errors import (
    InvalidTokenError,
    RefreshTokenReusedError,
    TokenExpiredError,
    TokenRevokedError,
)
from auth_service.application.ports import (
    Clock,
    IssuedTokens,
    Metrics,
    RateLimiter,
    RequestContext,
    RevocationList,
    SecretBox,
    UnitOfWork,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import User

SUCCESSOR_PURPOSE = "refresh-successor"


@dataclass(frozen=True, slots=True)
class RefreshTokens:
    refresh_token: str = field(repr=False)
    ctx: RequestContext = RequestContext()


async def live_session(uow: UnitOfWork, session_id: str, now: datetime) -> tuple[Session, User]:
    """The session a refresh presents, if it may still refresh, with its (re-read) account."""
    session = await uow.sessions.get(session_id)
    if session is None:
        raise InvalidTokenError("The refresh token is invalid.")
    if session.revoked_at is not None:
        raise TokenRevokedError()
    if now >= session.expires_at:
        raise TokenExpiredError()
    # Every refresh re-reads the user: new role, company or scopes take effect now.
    user = await uow.users.get(session.user_id)
    if user is None or not user.is_active:
        raise InvalidTokenError("The account is no longer active.")
    company = await uow.companies.get(user.company_id) if user.company_id else None
    if company is not None and not company.is_active:
        raise InvalidTokenError("The account's company is not active.")
    return session, user


class RefreshTokensHandler:
    """Rotate a refresh token. Concurrent presentations within REFRESH_REUSE_INTERVAL all get the
    one successor; a later presentation is a replay that revokes the session.
    Raises InvalidTokenError, TokenExpiredError, TokenRevokedError, RefreshTokenReusedError."""

    def __init__(self, uow: Callable[[], UnitOfWork], minter: TokenMinter, box: SecretBox,
                 revocations: RevocationList, clock: Clock, config: AuthConfig, metrics: Metrics,
                 limiter: RateLimiter) -> None:
        self._uow, self._minter, self._box, self._revocations = uow, minter, box, revocations
        self._limiter = limiter
        self._clock, self._config, self._metrics = clock, config, metrics

    async def __call__(self, cmd: RefreshTokens) -> IssuedTokens:
        presented_hash = self._minter.refresh_hash(cmd.refresh_token)
        successor, successor_hash = self._minter.new_refresh_token()
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.refresh_tokens.get(presented_hash)
            if current is None:
                raise InvalidTokenError("The refresh token is invalid.")
            await self._limiter.hit("refresh", current.session_id)  # RATE_LIMIT_REFRESH per session (SPEC §7)
            session, user = await live_session(uow, current.session_id, now)
            if current.rotated_at is None:
                if now >= current.expires_at:
                    raise TokenExpiredError()
                sealed = self._box.encrypt(successor.encode(), purpose=SUCCESSOR_PURPOSE)
                if await uow.refresh_tokens.rotate(presented_hash, now, successor_hash, sealed):
                    tokens = await self._minter.add_refresh_token(uow, user, session, now,
                                                                  (successor, successor_hash))
                    await uow.sessions.touch(session.id, now)
                    await uow.audit.add(audit_record("auth.token_refreshed", cmd.ctx, now, actor_id=user.id,
                                                     target_type="session", target_id=session.id,
                                                     company_id=user.company_id))
                    await uow.commit()
                    return tokens
                # Lost the race: another request rotated it meanwhile. Read what it did.
                current = await uow.refresh_tokens.get(presented_hash)
                assert current is not None and current.rotated_at is not None
            retried = await self._successor_if_retry(uow, current, now)
            if retried is not None:
                token, expires_at = retried
                return self._minter.pair(user, session, token, expires_at, now)
            await uow.sessions.revoke(session.id, now, "refresh_token_reused")
            await uow.audit.add(audit_record("auth.refresh_reuse_detected", cmd.ctx, now, outcome="failure",
                                             actor_id=user.id, target_type="session", target_id=session.id,
                                             company_id=user.company_id))
            await uow.commit()
        await self._revocations.publish([session.id], now)
        self._metrics.refresh_reuse()
        raise RefreshTokenReusedError()

    async def _successor_if_retry(self, uow: UnitOfWork, rotated: RefreshToken,
                                  now: datetime) -> tuple[str, datetime] | None:
        """Within the reuse interval, and while the successor is still the newest token of the
        session, a repeated presentation gets that same successor (two tabs, a retried request)."""
        assert rotated.rotated_at is not None
        if rotated.successor_enc is None or rotated.successor_hash is None:
            return None
        if now - rotated.rotated_at > self._config.refresh_reuse_interval:
            return None
        successor = await uow.refresh_tokens.get(rotated.successor_hash)
        if successor is None or successor.rotated_at is not None:
            return None
        token = self._box.decrypt(rotated.successor_enc, purpose=SUCCESSOR_PURPOSE).decode()
        return token, successor.expires_at

"""Starting sessions and minting the token pair of SPEC §3 (access JWT + opaque refresh token)."""

from __future__ import annotations

from datetime import datetime

from auth_service.application.config import AuthConfig
from auth_service.application.ports import (
    AccessTokens,
    IssuedTokens,
    Metrics,
    NewSession,
    PasswordCheck,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.domain.sessions import RefreshToken, Session
from auth_service.domain.users import User

REFRESH_PURPOSE = "refresh"
REFRESH_BYTES = 32  # 256 bits (SPEC §3: refresh >= 256)


class TokenMinter:
    """Opens sessions and issues token pairs whose lifetimes never pass the session's end."""

    def __init__(self, access_tokens: AccessTokens, secrets: Secrets, config: AuthConfig, metrics: Metrics) -> None:
        self._access, self._secrets, self._config, self._metrics = access_tokens, secrets, config, metrics

    def refresh_hash(self, refresh_token: str) -> str:
        return self._secrets.digest(refresh_token, purpose=REFRESH_PURPOSE)

    def new_refresh_token(self) -> tuple[str, str]:
        token = self._secrets.new_token(REFRESH_BYTES)
        return token, self.refresh_hash(token)

    def new_session(self, user_id: str, ctx: RequestContext, now: datetime, check: PasswordCheck) -> NewSession:
        """A session and its first refresh token, to be written; `issue` then signs the access token."""
        session = self._start(user_id, ctx, now)
        refresh_token, refresh_hash = self.new_refresh_token()
        row = self._refresh_row(session, refresh_hash, now)

        def issue(user: User) -> IssuedTokens:
            return self.pair(user, session, refresh_token, row.expires_at, now)

        return NewSession(session, row, issue, check)

    async def start_session(self, uow: UnitOfWork, user: User, ctx: RequestContext, now: datetime) -> IssuedTokens:
        """Open a session in `uow` without a login's stamp and audit record (seeding, tests)."""
        session = self._start(user.id, ctx, now)
        await uow.sessions.add(session)
        return await self.add_refresh_token(uow, user, session, now)

    def _start(self, user_id: str, ctx: RequestContext, now: datetime) -> Session:
        return Session.start(user_id, now=now, max_lifetime=self._config.session_max_lifetime,
                             ip=ctx.ip, user_agent=ctx.user_agent)

    async def add_refresh_token(self, uow: UnitOfWork, user: User, session: Session, now: datetime,
                                token: tuple[str, str] | None = None) -> IssuedTokens:
        refresh_token, refresh_hash = token or self.new_refresh_token()
        row = self._refresh_row(session, refresh_hash, now)
        await uow.refresh_tokens.add(row)
        return self.pair(user, session, refresh_token, row.expires_at, now)

    def _refresh_row(self, session: Session, refresh_hash: str, now: datetime) -> RefreshToken:
        return RefreshToken(token_hash=refresh_hash, session_id=session.id, user_id=session.user_id, created_at=now,
                            expires_at=session.capped(now, self._config.refresh_token_ttl))

    def pair(self, user: User, session: Session, refresh_token: str, refresh_expires_at: datetime,
             now: datetime) -> IssuedTokens:
        access_expires_at = session.capped(now, self._config.access_token_ttl)
        access_token = self._access.issue(user, session, now=now, expires_at=access_expires_at)
        self._metrics.token_issued()
        return IssuedTokens(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_in=max(0, int((access_expires_at - now).total_seconds())),
            refresh_expires_in=max(0, int((refresh_expires_at - now).total_seconds())),
            session_id=session.id,
            user=user,
        )

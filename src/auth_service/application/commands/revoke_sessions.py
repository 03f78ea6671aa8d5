"""Ending sessions: logout, logout-all, RFC 7009 revocation and revoking one of my sessions.
Revocation is immediate: the ids are published to every instance's in-memory list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.errors import InvalidTokenError, NotFoundError, TokenExpiredError
from auth_service.application.ports import (
    AccessTokens,
    Clock,
    IdentityProvider,
    RequestContext,
    RevocationList,
    UnitOfWork,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.ids import session_id_for
from auth_service.domain.principal import Principal
from auth_service.domain.sessions import Session
from auth_service.domain.users import User


@dataclass(frozen=True, slots=True)
class LogOut:
    principal: Principal
    refresh_token: str | None = field(default=None, repr=False)
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class LogOutAll:
    principal: Principal
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class RevokeToken:
    token: str = field(repr=False)
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class RevokeMySession:
    principal: Principal
    session_id: str
    ctx: RequestContext = RequestContext()


class SessionRevoker:
    """One handler object per use case would repeat the same three lines; these share them.
    Sessions end here first (every check of ours honours that), then at the identity provider."""

    def __init__(self, uow: Callable[[], UnitOfWork], minter: TokenMinter, access_tokens: AccessTokens,
                 revocations: RevocationList, clock: Clock, identity: IdentityProvider) -> None:
        self._uow, self._minter, self._access = uow, minter, access_tokens
        self._revocations, self._clock, self._identity = revocations, clock, identity

    async def log_out(self, cmd: LogOut) -> None:
        """Revoke the caller's session, and the session of `refresh_token` if it is the caller's too."""
        p, now = cmd.principal, self._clock.now()
        other = await self._refresh_token_session(cmd.refresh_token) if cmd.refresh_token else None
        async with self._uow() as uow:
            ids = [p.session_id] if await uow.sessions.revoke(p.session_id, now, "logout") else []
            if (other is not None and other.user_id == p.user_id and other.id != p.session_id
                    and await uow.sessions.revoke(other.id, now, "logout")):
                ids.append(other.id)
            user, sessions = await self._owner_and_sessions(uow, p.user_id, ids)
            for session_id in ids:
                await uow.audit.add(audit_record("auth.logout", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="session", target_id=session_id,
                                                 company_id=p.company_id))
            await uow.commit()
        await self._revocations.publish(ids, now)
        await self._end_at_provider(user, sessions)

    async def log_out_all(self, cmd: LogOutAll) -> None:
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            ids = await uow.sessions.revoke_all(p.user_id, now, "logout_all")
            user = await uow.users.get(p.user_id)
            await uow.audit.add(audit_record("auth.logout_all", cmd.ctx, now, actor_id=p.user_id,
                                             target_type="user", target_id=p.user_id, company_id=p.company_id,
                                             sessions=len(ids)))
            await uow.commit()
        await self._revocations.publish(ids, now)
        if user is not None:
            await self._identity.end_sessions(user, None)

    async def revoke_token(self, cmd: RevokeToken) -> None:
        """RFC 7009: revoke the session of a refresh (or access) token; silent about bad tokens."""
        now = self._clock.now()
        session = await self._refresh_token_session(cmd.token)
        if session is None:
            try:
                principal = self._access.verify(cmd.token, now=now)
            except (InvalidTokenError, TokenExpiredError):
                return  # RFC 7009 §2.2: invalid tokens do not cause an error
            session_id, user_id = principal.session_id, principal.user_id
        else:
            session_id, user_id = session.id, session.user_id
        async with self._uow() as uow:
            if not await uow.sessions.revoke(session_id, now, "revoked"):
                return
            user, sessions = await self._owner_and_sessions(uow, user_id, [session_id])
            await uow.audit.add(audit_record("session.revoked", cmd.ctx, now, actor_id=user_id,
                                             target_type="session", target_id=session_id,
                                             company_id=user.company_id if user else None, via="rfc7009"))
            await uow.commit()
        await self._revocations.publish([session_id], now)
        await self._end_at_provider(user, sessions)

    async def revoke_my_session(self, cmd: RevokeMySession) -> None:
        """Raises NotFoundError for a session that is not the caller's (never reveal others')."""
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(cmd.session_id)
            if session is None or session.user_id != p.user_id:
                raise NotFoundError("Session not found.")
            revoked = await uow.sessions.revoke(session.id, now, "revoked_by_user")
            if revoked:
                await uow.audit.add(audit_record("session.revoked", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="session", target_id=session.id,
                                                 company_id=p.company_id))
            user = await uow.users.get(p.user_id)
            await uow.commit()
        await self._revocations.publish([session.id], now)
        if revoked:
            await self._end_at_provider(user, [session])

    async def _refresh_token_session(self, token: str) -> Session | None:
        """The session of a refresh token: one of ours, or one only the identity provider can read
        (Keycloak mode), which the provider ends as it answers."""
        async with self._uow() as uow:
            stored = await uow.refresh_tokens.get(self._minter.refresh_hash(token))
            if stored is not None:
                return await uow.sessions.get(stored.session_id)
        provider_sid = await self._identity.revoke_at_provider(token)
        if provider_sid is None:
            return None
        async with self._uow() as uow:
            return await uow.sessions.get(session_id_for(provider_sid))

    @staticmethod
    async def _owner_and_sessions(uow: UnitOfWork, user_id: str,
                                  ids: list[str]) -> tuple[User | None, list[Session]]:
        return await uow.users.get(user_id), await uow.sessions.get_many(ids)

    async def _end_at_provider(self, user: User | None, sessions: list[Session]) -> None:
        if user is not None and sessions:
            await self._identity.end_sessions(user, sessions)

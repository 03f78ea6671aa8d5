"""Ending sessions: logout, logout-all, RFC 7009 revocation and revoking one of my sessions.
Revocation is immediate: the ids are published to every instance's in-memory list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.errors import InvalidTokenError, NotFoundError, TokenExpiredError
from auth_service.application.ports import AccessTokens, Clock, RequestContext, RevocationList, UnitOfWork
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.principal import Principal


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
    """One handler object per use case would repeat the same three lines; these share them."""

    def __init__(self, uow: Callable[[], UnitOfWork], minter: TokenMinter, access_tokens: AccessTokens,
                 revocations: RevocationList, clock: Clock) -> None:
        self._uow, self._minter, self._access = uow, minter, access_tokens
        self._revocations, self._clock = revocations, clock

    async def log_out(self, cmd: LogOut) -> None:
        """Revoke the caller's session, and the session of `refresh_token` if it is the caller's too."""
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            ids = [p.session_id] if await uow.sessions.revoke(p.session_id, now, "logout") else []
            if cmd.refresh_token:
                token = await uow.refresh_tokens.get(self._minter.refresh_hash(cmd.refresh_token))
                if (token is not None and token.user_id == p.user_id and token.session_id != p.session_id
                        and await uow.sessions.revoke(token.session_id, now, "logout")):
                    ids.append(token.session_id)
            for session_id in ids:
                await uow.audit.add(audit_record("auth.logout", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="session", target_id=session_id,
                                                 company_id=p.company_id))
            await uow.commit()
        await self._revocations.publish(ids, now)

    async def log_out_all(self, cmd: LogOutAll) -> None:
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            ids = await uow.sessions.revoke_all(p.user_id, now, "logout_all")
            await uow.audit.add(audit_record("auth.logout_all", cmd.ctx, now, actor_id=p.user_id,
                                             target_type="user", target_id=p.user_id, company_id=p.company_id,
                                             sessions=len(ids)))
            await uow.commit()
        await self._revocations.publish(ids, now)

    async def revoke_token(self, cmd: RevokeToken) -> None:
        """RFC 7009: revoke the session of a refresh (or access) token; silent about bad tokens."""
        now = self._clock.now()
        async with self._uow() as uow:
            token = await uow.refresh_tokens.get(self._minter.refresh_hash(cmd.token))
            if token is not None:
                session_id, user_id = token.session_id, token.user_id
            else:
                try:
                    principal = self._access.verify(cmd.token, now=now)
                except (InvalidTokenError, TokenExpiredError):
                    return  # RFC 7009 §2.2: invalid tokens do not cause an error
                session_id, user_id = principal.session_id, principal.user_id
            if not await uow.sessions.revoke(session_id, now, "revoked"):
                return
            user = await uow.users.get(user_id)  # the record names the session owner's company (SPEC §6)
            await uow.audit.add(audit_record("session.revoked", cmd.ctx, now, actor_id=user_id,
                                             target_type="session", target_id=session_id,
                                             company_id=user.company_id if user else None, via="rfc7009"))
            await uow.commit()
        await self._revocations.publish([session_id], now)

    async def revoke_my_session(self, cmd: RevokeMySession) -> None:
        """Raises NotFoundError for a session that is not the caller's (never reveal others')."""
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(cmd.session_id)
            if session is None or session.user_id != p.user_id:
                raise NotFoundError("Session not found.")
            if await uow.sessions.revoke(session.id, now, "revoked_by_user"):
                await uow.audit.add(audit_record("session.revoked", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="session", target_id=session.id,
                                                 company_id=p.company_id))
            await uow.commit()
        await self._revocations.publish([session.id], now)

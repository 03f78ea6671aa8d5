"""Changing one's own password (SPEC §3 Change password): keeps this session, ends the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.emails import security_alert_email
from auth_service.application.errors import InvalidTokenError, WrongCurrentPasswordError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.passwords import new_credential
from auth_service.application.ports import (
    Clock,
    IdentityProvider,
    PasswordPolicy,
    RequestContext,
    RevocationList,
    UnitOfWork,
)
from auth_service.domain.passwords import normalize_password
from auth_service.domain.principal import Principal


@dataclass(frozen=True, slots=True)
class ChangePassword:
    principal: Principal
    current_password: str = field(repr=False)
    new_password: str = field(repr=False)
    ctx: RequestContext = RequestContext()


class ChangePasswordHandler:
    """Raises AccountLockedError, WrongCurrentPasswordError (counted by the lockout),
    WeakPasswordError, BreachedPasswordError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, policy: PasswordPolicy,
                 lockout: LockoutGuard, revocations: RevocationList, clock: Clock) -> None:
        self._uow, self._identity, self._policy = uow, identity, policy
        self._lockout, self._revocations, self._clock = lockout, revocations, clock

    async def __call__(self, cmd: ChangePassword) -> None:
        p = cmd.principal
        async with self._uow() as uow:
            user = await uow.users.get(p.user_id)
            if user is None or not user.is_active:
                raise InvalidTokenError("The account is no longer active.")
            await self._lockout.ensure_not_locked(uow, user.email, self._clock.now())
        check = await self._identity.check_password(user, user.email, normalize_password(cmd.current_password))
        await self._identity.abandon(check)  # Keycloak mode: the check's own session is not wanted
        if not check.matches:
            await self._lockout.record_failure(user.email, cmd.ctx, actor_id=user.id, company_id=user.company_id,
                                               record=audit_record("auth.password_changed", cmd.ctx,
                                                                   self._clock.now(), outcome="failure",
                                                                   actor_id=user.id, target_type="user",
                                                                   target_id=user.id, company_id=user.company_id,
                                                                   reason="invalid_credentials"))
            raise WrongCurrentPasswordError()
        password, password_hash = await new_credential(self._policy, self._identity, cmd.new_password, user)

        now = self._clock.now()
        async with self._uow() as uow:
            await uow.users.set_password(user.id, password_hash, now)
            await self._identity.set_password(user, password)
            revoked = await uow.sessions.revoke_all(user.id, now, "password_changed", except_session_id=p.session_id)
            ended = await uow.sessions.get_many(revoked)
            await uow.outbox.add(security_alert_email(user.email, "Your password was changed."))
            await uow.audit.add(audit_record("auth.password_changed", cmd.ctx, now, actor_id=user.id,
                                             target_type="user", target_id=user.id, company_id=user.company_id,
                                             sessions_revoked=len(revoked)))
            await uow.commit()
        await self._revocations.publish(revoked, now)
        await self._identity.end_sessions(user, ended)  # Keycloak mode: its sessions end too

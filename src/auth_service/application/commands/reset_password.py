"""Forgotten passwords: request a reset token by e-mail, then set a new password with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.config import AuthConfig
from auth_service.application.emails import reset_email, security_alert_email
from auth_service.application.errors import InvalidOneTimeTokenError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.passwords import new_credential
from auth_service.application.ports import (
    Clock,
    IdentityProvider,
    OneTimeToken,
    PasswordPolicy,
    RateLimiter,
    RequestContext,
    RevocationList,
    Secrets,
    UnitOfWork,
)
from auth_service.domain.users import UserStatus, normalize_email

RESET_PURPOSES = ("reset", "invitation")


def one_time_token_hash(secrets: Secrets, token: str) -> str:
    return secrets.digest(token, purpose="password-reset")


@dataclass(frozen=True, slots=True)
class ForgotPassword:
    email: str
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class ResetPassword:
    token: str = field(repr=False)
    new_password: str = field(repr=False)
    ctx: RequestContext = RequestContext()


class ForgotPasswordHandler:
    """Send a reset link to an active account, or a pending one inside its window; the caller's
    answer is the same for every email. A newer request voids older tokens."""

    def __init__(self, uow: Callable[[], UnitOfWork], secrets: Secrets, clock: Clock, config: AuthConfig,
                 limiter: RateLimiter) -> None:
        self._uow, self._secrets, self._clock, self._config = uow, secrets, clock, config
        self._limiter = limiter

    async def __call__(self, cmd: ForgotPassword) -> None:
        email, now = normalize_email(cmd.email), self._clock.now()
        await self._limiter.hit("forgot", email)  # RATE_LIMIT_FORGOT per email (SPEC §7)
        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None or user.effective_status(now) not in (UserStatus.ACTIVE, UserStatus.PENDING):
                return
            token = self._secrets.new_token()
            await uow.one_time_tokens.void_for_user(user.id, "reset", now)
            await uow.one_time_tokens.add(OneTimeToken(
                token_hash=one_time_token_hash(self._secrets, token), purpose="reset", user_id=user.id,
                created_at=now, expires_at=now + self._config.reset_token_ttl))
            await uow.outbox.add(reset_email(email, token, self._config.frontend_base))
            await uow.audit.add(audit_record("auth.password_reset_requested", cmd.ctx, now, actor_id=user.id,
                                             target_type="user", target_id=user.id, company_id=user.company_id))
            await uow.commit()


class ResetPasswordHandler:
    """Set a new password with a reset or invitation token: revokes every session, clears the
    lockout counter and, as proof of the mailbox, verifies a pending account.
    Raises InvalidOneTimeTokenError, WeakPasswordError, BreachedPasswordError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, policy: PasswordPolicy,
                 secrets: Secrets, lockout: LockoutGuard, revocations: RevocationList, clock: Clock) -> None:
        self._uow, self._identity, self._policy, self._secrets = uow, identity, policy, secrets
        self._lockout, self._revocations, self._clock = lockout, revocations, clock

    async def __call__(self, cmd: ResetPassword) -> None:
        token_hash = one_time_token_hash(self._secrets, cmd.token)
        async with self._uow() as uow:
            stored = await uow.one_time_tokens.get(token_hash)
            user = await uow.users.get(stored.user_id) if stored else None
        now = self._clock.now()
        if (stored is None or user is None or stored.used_at is not None or now >= stored.expires_at
                or user.effective_status(now) not in (UserStatus.ACTIVE, UserStatus.PENDING)):
            raise InvalidOneTimeTokenError()
        # Check the policy before consuming, so a weak password does not burn the link.
        password, password_hash = await new_credential(self._policy, self._identity, cmd.new_password, user)

        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.one_time_tokens.consume(token_hash, RESET_PURPOSES, now) is None:
                raise InvalidOneTimeTokenError()  # used concurrently
            user = await uow.users.get(user.id)
            assert user is not None
            user.password_hash, user.updated_at = password_hash, now
            await self._identity.set_password(user, password)
            if user.status is UserStatus.PENDING:
                await self._identity.mark_verified(user)
                user.mark_verified(now)
            await uow.users.save(user)
            revoked = await uow.sessions.revoke_all(user.id, now, "password_reset")
            await self._lockout.clear(uow, user.email)
            await uow.outbox.add(security_alert_email(user.email, "Your password was reset."))
            await uow.audit.add(audit_record("auth.password_reset", cmd.ctx, now, actor_id=user.id,
                                             target_type="user", target_id=user.id, company_id=user.company_id,
                                             via=stored.purpose, sessions_revoked=len(revoked)))
            await uow.commit()
        await self._revocations.publish(revoked, now)
        await self._identity.end_sessions(user, None)

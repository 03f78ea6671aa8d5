"""Email verification by link token or by 6-digit code (SPEC §3 Verify)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.config import AuthConfig
from auth_service.application.errors import InvalidOneTimeTokenError, TooManyAttemptsError
from auth_service.application.ports import (
    Clock,
    IdentityProvider,
    Registration,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.application.verification import VerificationCodes, resend_wait
from auth_service.domain.errors import InvalidVerificationCodeError, VerificationExpiredError
from auth_service.domain.users import User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class VerifyEmail:
    token: str | None = field(default=None, repr=False)
    email: str | None = None
    code: str | None = field(default=None, repr=False)
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class EmailVerified:
    user_id: str
    status: str


class VerifyEmailHandler:
    """Activate a pending account. Raises InvalidOneTimeTokenError, InvalidVerificationCodeError,
    TooManyAttemptsError, VerificationExpiredError. A used token or code answers the same again."""

    def __init__(self, uow: Callable[[], UnitOfWork], secrets: Secrets, clock: Clock, config: AuthConfig,
                 identity: IdentityProvider) -> None:
        self._uow, self._clock, self._config, self._identity = uow, clock, config, identity
        self._codes = VerificationCodes(secrets)

    async def __call__(self, cmd: VerifyEmail) -> EmailVerified:
        if cmd.token is not None:
            return await self._by_token(cmd.token, cmd.ctx)
        assert cmd.email is not None and cmd.code is not None
        return await self._by_code(normalize_email(cmd.email), cmd.code, cmd.ctx)

    async def _by_token(self, token: str, ctx: RequestContext) -> EmailVerified:
        async with self._uow() as uow:
            registration = await uow.registrations.get_by_token_hash(self._codes.token_hash(token))
            user = await uow.users.get(registration.user_id) if registration else None
            if registration is None or user is None:
                raise InvalidOneTimeTokenError()
            latest = await uow.registrations.latest_for_user(user.id)
            if registration.status == "expired" and (latest is None or latest.id != registration.id):
                raise InvalidOneTimeTokenError()  # superseded by a newer registration
            return await self._complete(uow, user, registration, ctx)

    async def _by_code(self, email: str, code: str, ctx: RequestContext) -> EmailVerified:
        now = self._clock.now()
        attempts_key = self._codes.attempts_key(email)
        async with self._uow() as uow:
            # Locked for the transaction, so parallel guesses cannot slip past the limit.
            counter = await uow.failure_counters.get(attempts_key, for_update=True)
            if counter.failures >= self._config.verification_max_attempts:
                throttle = await uow.resend_throttles.get(self._codes.resend_key(email))
                raise TooManyAttemptsError(resend_wait(throttle, now, self._config.resend_cooldown,
                                                       self._config.resend_max))
            user = await uow.users.get_by_email(email)
            registration = await uow.registrations.latest_for_user(user.id) if user else None
            if user is not None and registration is not None and self._codes.code_matches(
                    registration.id, code, registration.code_hash):
                return await self._complete(uow, user, registration, ctx)
            counter.failures += 1
            counter.last_failure_at = now
            await uow.failure_counters.save(counter)
            await uow.commit()
        raise InvalidVerificationCodeError("The verification code is incorrect.")

    async def _complete(self, uow: UnitOfWork, user: User, registration: Registration,
                        ctx: RequestContext) -> EmailVerified:
        now = self._clock.now()
        if registration.status == "verified" or user.is_verified:
            return EmailVerified(user.id, user.effective_status(now).value)  # idempotent: nothing changes
        if registration.status == "expired" or user.effective_status(now) is UserStatus.EXPIRED:
            if user.status is UserStatus.PENDING:
                user.mark_verification_expired(now)
                registration.status = "expired"
                await self._identity.remove(user)  # Keycloak mode: the pending Keycloak user goes (SPEC §9.2)
                await uow.users.save(user)
                await uow.registrations.save(registration)
                await uow.audit.add(audit_record("user.verification_expired", ctx, now, actor_id=user.id,
                                                 target_type="user", target_id=user.id))
                await uow.commit()
            raise VerificationExpiredError("This verification has expired; please register again.")
        if user.status is not UserStatus.PENDING:
            # Only a pending account can be verified: a deleted or disabled one stays as it is.
            raise InvalidOneTimeTokenError()
        await self._identity.mark_verified(user)
        user.mark_verified(now)
        registration.status, registration.verified_at = "verified", now
        await uow.users.save(user)
        await uow.registrations.save(registration)
        await uow.failure_counters.clear(self._codes.attempts_key(user.email))
        await uow.audit.add(audit_record("user.email_verified", ctx, now, actor_id=user.id, target_type="user",
                                         target_id=user.id))
        await uow.commit()
        return EmailVerified(user.id, user.status.value)

"""Resending the verification message (SPEC §3 Resend): the same answer for every email."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.audit import audit_record
from auth_service.application.config import AuthConfig
from auth_service.application.emails import verification_email
from auth_service.application.errors import RateLimitedError
from auth_service.application.ports import Clock, RequestContext, Secrets, UnitOfWork
from auth_service.application.verification import VerificationCodes, resend_wait
from auth_service.domain.users import UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class ResendVerification:
    email: str
    ctx: RequestContext = RequestContext()


class ResendVerificationHandler:
    """Replace the token and code of a pending registration and send them again.
    Counted per email, known or not; raises RateLimitedError past the cooldown or the cap."""

    def __init__(self, uow: Callable[[], UnitOfWork], secrets: Secrets, clock: Clock, config: AuthConfig) -> None:
        self._uow, self._secrets, self._clock, self._config = uow, secrets, clock, config
        self._codes = VerificationCodes(secrets)

    async def __call__(self, cmd: ResendVerification) -> None:
        email, now, config = normalize_email(cmd.email), self._clock.now(), self._config
        async with self._uow() as uow:
            throttle = await uow.resend_throttles.get(self._codes.resend_key(email), for_update=True)
            if throttle.window_ends_at is None or now >= throttle.window_ends_at:
                # An unknown email (or one past its window) gets a window of its own.
                throttle.window_ends_at, throttle.count = now + config.verification_ttl, 0
            wait = resend_wait(throttle, now, config.resend_cooldown, config.resend_max)
            if wait > 0:
                raise RateLimitedError(wait)
            throttle.last_sent_at, throttle.count = now, throttle.count + 1
            await uow.resend_throttles.save(throttle)
            # A fresh wrong-code count for every email, known or not: otherwise a dead code that
            # stays dead after a resend would tell that no registration is pending for it.
            await uow.failure_counters.clear(self._codes.attempts_key(email))

            user = await uow.users.get_by_email(email)
            registration = await uow.registrations.latest_for_user(user.id) if user else None
            if (user is not None and registration is not None and registration.status == "pending"
                    and user.effective_status(now) is UserStatus.PENDING):
                token, code = self._secrets.new_token(), self._secrets.new_code()
                registration.token_hash = self._codes.token_hash(token)
                registration.code_hash = self._codes.code_hash(registration.id, code)
                await uow.registrations.save(registration)
                await uow.outbox.add(verification_email(email, token, code, config.frontend_base,
                                                        registration.expires_at))
                await uow.audit.add(audit_record("user.verification_resent", cmd.ctx, now, actor_id=user.id,
                                                 target_type="user", target_id=user.id))
            await uow.commit()

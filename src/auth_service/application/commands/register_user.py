"""Self-registration (SPEC §3 Register)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from auth_service.application.accounts import provider_account
from auth_service.application.audit import audit_record
from auth_service.application.config import AuthConfig
from auth_service.application.emails import verification_email
from auth_service.application.ports import (
    Clock,
    IdentityProvider,
    PasswordPolicy,
    RateLimiter,
    Registration,
    RequestContext,
    ResendThrottle,
    Secrets,
    UnitOfWork,
)
from auth_service.application.verification import VerificationCodes
from auth_service.domain.errors import EmailTakenError, FieldValidationError, UsernameTakenError
from auth_service.domain.ids import new_registration_id
from auth_service.domain.passwords import normalize_password
from auth_service.domain.users import User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class RegisterUser:
    email: str
    password: str = field(repr=False)
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class RegistrationStarted:
    registration_id: str
    user_id: str
    email: str
    status: str
    expires_at: datetime


def check_username(username: str, email: str) -> None:
    """Usernames may contain '@' only when equal to the user's own email (SPEC §3)."""
    if "@" in username and username != email:
        raise FieldValidationError("username", "A username may contain '@' only when it is your own email.")


class RegisterUserHandler:
    """Create a pending account and send its verification message.
    Raises EmailTakenError, UsernameTakenError, WeakPasswordError, BreachedPasswordError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, policy: PasswordPolicy,
                 secrets: Secrets, clock: Clock, config: AuthConfig, limiter: RateLimiter) -> None:
        self._uow, self._identity, self._policy, self._limiter = uow, identity, policy, limiter
        self._secrets, self._clock, self._config = secrets, clock, config
        self._codes = VerificationCodes(secrets)

    async def __call__(self, cmd: RegisterUser) -> RegistrationStarted:
        await self._limiter.hit("register", cmd.ctx.ip)  # RATE_LIMIT_REGISTER per IP (SPEC §7)
        email = normalize_email(cmd.email)
        username = cmd.username.strip() if cmd.username else email
        if normalize_email(username) == email:
            username = email  # the own email, however it was spelled (emails compare case-insensitively)
        check_username(username, email)
        password = normalize_password(cmd.password)
        await self._policy.check(password, [email, username, cmd.first_name or "", cmd.last_name or ""])
        # Hash before opening the transaction: hashing is slow on purpose.
        password_hash = await self._identity.credential(password)
        token, code = self._secrets.new_token(), self._secrets.new_code()
        now, ttl = self._clock.now(), self._config.verification_ttl

        async with self._uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is not None and user.effective_status(now) is not UserStatus.EXPIRED:
                raise EmailTakenError("This e-mail address is already registered.")
            if await uow.users.username_taken(username, except_user_id=user.id if user else None):
                raise UsernameTakenError("This username is already taken.")
            if user is not None:
                await self._retire_expired(uow, user, cmd.ctx, now)
                await self._identity.remove(user)  # the expired registration's provider account
            await self._identity.ensure_email_free(email)
            if user is None:
                user = User.register(email, password_hash, now=now, verification_ttl=ttl, username=username,
                                     first_name=cmd.first_name, last_name=cmd.last_name, phone=cmd.phone)
                is_new = True
            else:
                user.reregister(password_hash, now=now, verification_ttl=ttl, username=username,
                                first_name=cmd.first_name, last_name=cmd.last_name, phone=cmd.phone)
                is_new = False
            async with provider_account(self._identity, user, password):
                await (uow.users.add(user) if is_new else uow.users.save(user))
                registration_id = new_registration_id()
                registration = Registration(
                    id=registration_id, user_id=user.id, email=email, created_at=now, expires_at=now + ttl,
                    token_hash=self._codes.token_hash(token),
                    code_hash=self._codes.code_hash(registration_id, code))
                await uow.registrations.add(registration)
                # The first message starts the resend cooldown and opens this registration's resend window.
                await uow.resend_throttles.save(ResendThrottle(key=self._codes.resend_key(email), last_sent_at=now,
                                                               count=0, window_ends_at=registration.expires_at))
                await uow.failure_counters.clear(self._codes.attempts_key(email))
                await uow.outbox.add(verification_email(email, token, code, self._config.frontend_base,
                                                        registration.expires_at))
                await uow.audit.add(audit_record("user.registered", cmd.ctx, now, actor_id=user.id,
                                                 target_type="user", target_id=user.id,
                                                 registration_id=registration_id))
                await uow.commit()
        return RegistrationStarted(registration_id, user.id, email, UserStatus.PENDING.value, registration.expires_at)

    async def _retire_expired(self, uow: UnitOfWork, user: User, ctx: RequestContext, now: datetime) -> None:
        """Store an expiry that was only implied by the clock, before the row is reused."""
        previous = await uow.registrations.latest_for_user(user.id)
        if previous is not None and previous.status == "pending":
            previous.status = "expired"
            await uow.registrations.save(previous)
        if user.status is UserStatus.PENDING:
            await uow.audit.add(audit_record("user.verification_expired", ctx, now, actor_id=user.id,
                                             target_type="user", target_id=user.id))

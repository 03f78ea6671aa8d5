"""Password login, shared by /auth/login and the OAuth password grant /auth/token (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.audit import audit_record
from auth_service.application.commands.verify_mfa import ChallengeIssued, open_challenge
from auth_service.application.errors import (
    AccountDisabledError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    MfaRequiredError,
)
from auth_service.application.lockout import LockoutGuard
from auth_service.application.ports import (
    Clock,
    IssuedTokens,
    Metrics,
    PasswordHasher,
    RateLimiter,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.audit import AuditRecord
from auth_service.domain.passwords import normalize_password
from auth_service.domain.users import User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class LogIn:
    email: str
    password: str = field(repr=False)
    ctx: RequestContext = RequestContext()
    password_grant: bool = False  # /auth/token cannot answer an MFA challenge


class LogInHandler:
    """Check the password, then the account, then open a session.
    Raises AccountLockedError, InvalidCredentialsError, EmailNotVerifiedError, AccountDisabledError,
    MfaRequiredError."""

    def __init__(self, uow: Callable[[], UnitOfWork], hasher: PasswordHasher, lockout: LockoutGuard,
                 minter: TokenMinter, clock: Clock, metrics: Metrics, secrets: Secrets, limiter: RateLimiter) -> None:
        self._uow, self._hasher, self._lockout, self._limiter = uow, hasher, lockout, limiter
        self._minter, self._clock, self._metrics, self._secrets = minter, clock, metrics, secrets

    async def __call__(self, cmd: LogIn) -> IssuedTokens | ChallengeIssued:
        email, password = normalize_email(cmd.email), normalize_password(cmd.password)
        # RATE_LIMIT_LOGIN per IP and per email (SPEC §7): two counters, one limit.
        await self._limiter.hit("login", f"ip:{cmd.ctx.ip}" if cmd.ctx.ip else None)
        await self._limiter.hit("login", f"email:{email}")
        async with self._uow() as uow:
            await self._lockout.ensure_not_locked(uow, email, self._clock.now())
            user = await uow.users.get_by_email(email)
            company = await uow.companies.get(user.company_id) if user and user.company_id else None
        if not await self._password_matches(user, password):
            self._metrics.login("failure")
            await self._lockout.record_failure(email, cmd.ctx, actor_id=user.id if user else None,
                                               company_id=user.company_id if user else None,
                                               record=self._failure(cmd.ctx, user, email, "invalid_credentials"))
            raise InvalidCredentialsError()
        assert user is not None and user.password_hash is not None
        # Only after a correct password may the answer depend on the account.
        status = user.effective_status(self._clock.now())
        if status in (UserStatus.PENDING, UserStatus.EXPIRED):
            await self._audit_failure(cmd.ctx, user, email, "email_not_verified")
            raise EmailNotVerifiedError()
        if status is not UserStatus.ACTIVE:
            await self._audit_failure(cmd.ctx, user, email, "account_disabled")
            raise AccountDisabledError()
        if company is not None and not company.is_active:  # SPEC §5: until the company is active again
            await self._audit_failure(cmd.ctx, user, email, "company_disabled")
            raise AccountDisabledError()
        new_hash = await self._hasher.hash(password) if self._hasher.needs_rehash(user.password_hash) else None
        if user.mfa_enabled:
            return await self._challenge(user, new_hash, cmd)

        now = self._clock.now()
        async with self._uow() as uow:
            # Read again: an admin may have disabled the account while the hash was checked.
            user = await uow.users.get(user.id)
            if user is None or not user.is_active:
                raise AccountDisabledError()
            # A new hash when the hashing parameters changed: upgraded on login.
            await uow.users.record_login(user.id, now, new_hash)
            user.record_login(now)
            await self._lockout.clear(uow, email)
            tokens = await self._minter.start_session(uow, user, cmd.ctx, now)
            await uow.audit.add(audit_record(
                "auth.login_succeeded", cmd.ctx, now, actor_id=user.id, target_type="session",
                target_id=tokens.session_id, company_id=user.company_id,
                method="password_grant" if cmd.password_grant else "password"))
            await uow.commit()
        self._metrics.login("success")
        return tokens

    async def _challenge(self, user: User, new_hash: str | None, cmd: LogIn) -> ChallengeIssued:
        """A correct password of an MFA user opens a challenge; tokens come from /auth/mfa/verify."""
        if cmd.password_grant:
            raise MfaRequiredError()  # the OAuth password grant has no second step
        async with self._uow() as uow:
            if new_hash is not None:
                await uow.users.set_password(user.id, new_hash, self._clock.now())
            challenge = await open_challenge(uow, self._secrets, user, self._clock)
            await uow.commit()
        return challenge

    async def _password_matches(self, user: User | None, password: str) -> bool:
        if user is None or user.password_hash is None:
            await self._hasher.burn(password)  # same time as a wrong password: no enumeration
            return False
        return await self._hasher.verify(user.password_hash, password)

    async def _audit_failure(self, ctx: RequestContext, user: User, email: str, reason: str) -> None:
        self._metrics.login("failure")
        async with self._uow() as uow:
            await uow.audit.add(self._failure(ctx, user, email, reason))
            await uow.commit()

    def _failure(self, ctx: RequestContext, user: User | None, email: str, reason: str) -> AuditRecord:
        details: dict[str, object] = {"reason": reason}
        if user is None:
            # People type passwords into email fields: keep a keyed hash, never the text.
            details["identifier"] = self._lockout.identifier(email)
        return audit_record(
            "auth.login_failed", ctx, self._clock.now(), outcome="failure", actor_id=user.id if user else None,
            target_type="user" if user else None, target_id=user.id if user else None,
            company_id=user.company_id if user else None, **details)

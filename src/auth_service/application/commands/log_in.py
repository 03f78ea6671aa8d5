"""Password login, shared by /auth/login and the OAuth password grant /auth/token (SPEC §3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from auth_service.application.accounts import role_from
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
    IdentityProvider,
    IssuedTokens,
    LoginState,
    LoginStore,
    Metrics,
    NewSession,
    PasswordCheck,
    RateLimiter,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.domain.audit import AuditRecord
from auth_service.domain.companies import Company
from auth_service.domain.passwords import normalize_password
from auth_service.domain.users import User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class LogIn:
    email: str
    password: str = field(repr=False)
    ctx: RequestContext = RequestContext()
    password_grant: bool = False  # /auth/token cannot answer an MFA challenge


class UnitOfWorkLoginStore:
    """LoginStore through units of work: `reads` makes those that only read (on PostgreSQL without
    BEGIN and ROLLBACK)."""

    def __init__(self, uow: Callable[[], UnitOfWork], reads: Callable[[], UnitOfWork]) -> None:
        self._uow, self._reads = uow, reads

    async def read(self, email: str, counter_key: str) -> LoginState:
        async with self._reads() as uow:
            counter = await uow.failure_counters.get(counter_key)
            user = await uow.users.get_by_email(email)
            company = await uow.companies.get(user.company_id) if user and user.company_id else None
        return LoginState(counter, user, company)

    async def record(self, user_id: str, now: datetime, *, password_hash: str | None, opened: NewSession,
                     audit: AuditRecord, clear_failures: str | None) -> User | None:
        async with self._uow() as uow:
            current = await uow.logins.record(user_id, now, password_hash=password_hash, opened=opened, audit=audit,
                                              clear_failures=clear_failures)
            if current is not None:
                await uow.commit()
        return current


class LogInHandler:
    """Check the password (here or at the identity provider), then the account, then open a session.
    Raises AccountLockedError, InvalidCredentialsError, EmailNotVerifiedError, AccountDisabledError,
    MfaRequiredError."""

    def __init__(self, uow: Callable[[], UnitOfWork], store: LoginStore, identity: IdentityProvider,
                 lockout: LockoutGuard, clock: Clock, metrics: Metrics, secrets: Secrets,
                 limiter: RateLimiter) -> None:
        self._uow, self._store, self._identity, self._lockout, self._limiter = uow, store, identity, lockout, limiter
        self._clock, self._metrics, self._secrets = clock, metrics, secrets

    async def __call__(self, cmd: LogIn) -> IssuedTokens | ChallengeIssued:
        email, password = normalize_email(cmd.email), normalize_password(cmd.password)
        # RATE_LIMIT_LOGIN per IP and per email (SPEC §7): two counters, one limit.
        await self._limiter.hit("login", f"ip:{cmd.ctx.ip}" if cmd.ctx.ip else None)
        await self._limiter.hit("login", f"email:{email}")
        state = await self._store.read(email, self._lockout.key(email))
        self._lockout.check(state.counter, self._clock.now())
        user, company = state.user, state.company
        check = await self._identity.check_password(user, email, password)
        if not check.matches:
            self._metrics.login("failure")
            await self._lockout.record_failure(email, cmd.ctx, actor_id=user.id if user else None,
                                               company_id=user.company_id if user else None,
                                               record=self._failure(cmd.ctx, user, email, "invalid_credentials"))
            raise InvalidCredentialsError()
        # Only after a correct password may the answer depend on the account.
        try:
            user = await self._known_user(user, check, cmd.ctx)
            await self._ensure_may_log_in(user, company, check, cmd.ctx, email)
        except (EmailNotVerifiedError, AccountDisabledError):
            await self._identity.abandon(check)
            raise
        if user.mfa_enabled:
            return await self._challenge(user, check.new_hash, cmd)

        now = self._clock.now()
        opening = await self._identity.open_session(user, cmd.ctx, now, check)
        record = audit_record("auth.login_succeeded", cmd.ctx, now, actor_id=user.id, target_type="session",
                              target_id=opening.session.id, company_id=user.company_id,
                              method="password_grant" if cmd.password_grant else "password")
        # Only while the account is still active: an admin may have disabled it while the hash was
        # checked. Then nothing is written.
        current = await self._store.record(user.id, now, password_hash=check.new_hash, opened=opening, audit=record,
                                           clear_failures=self._lockout.to_clear(email, state.counter))
        if current is None:
            await self._identity.abandon(opening.check)
            raise AccountDisabledError()
        self._metrics.login("success")
        return opening.issue(current)

    async def _known_user(self, user: User | None, check: PasswordCheck, ctx: RequestContext) -> User:
        """The account of a correct password. A provider's user this database does not know yet is
        created just in time (Keycloak mode: e.g. made in Keycloak's console); a pending one is not."""
        account = check.account
        if user is not None and account is None:
            return user
        assert account is not None, "a matching password names an account"
        if not check.set_up or not account.email_verified:
            raise EmailNotVerifiedError()
        now = self._clock.now()
        async with self._uow() as uow:
            if user is None:
                user = User.from_provider(account.subject, account.email, account.username, role=role_from(account),
                                          now=now, first_name=account.first_name, last_name=account.last_name)
                await uow.users.add(user)
                await uow.audit.add(audit_record("user.created", ctx, now, actor_id=user.id, target_type="user",
                                                 target_id=user.id, via="identity_provider",
                                                 role=user.role.value))
            else:  # known by email, not yet linked to the provider's account
                user.keycloak_id = account.subject
                await uow.users.save(user)
            await uow.commit()
        return user

    async def _ensure_may_log_in(self, user: User, company: Company | None, check: PasswordCheck,
                                 ctx: RequestContext, email: str) -> None:
        status = user.effective_status(self._clock.now())
        if not check.set_up or status in (UserStatus.PENDING, UserStatus.EXPIRED):
            await self._audit_failure(ctx, user, email, "email_not_verified")
            raise EmailNotVerifiedError()
        if status is not UserStatus.ACTIVE:
            await self._audit_failure(ctx, user, email, "account_disabled")
            raise AccountDisabledError()
        if company is not None and not company.is_active:  # SPEC §5: until the company is active again
            await self._audit_failure(ctx, user, email, "company_disabled")
            raise AccountDisabledError()

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

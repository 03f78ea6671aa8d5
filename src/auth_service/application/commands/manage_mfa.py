"""MFA settings of the signed-in user (SPEC §7): enrol, confirm, new backup codes, disable.
Wrong passwords and codes here count toward the per-email lockout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.audit import audit_record
from auth_service.application.emails import security_alert_email
from auth_service.application.errors import InvalidMfaCodeError, InvalidTokenError, WrongCurrentPasswordError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.mfa import TOTP_PURPOSE, SecondFactor
from auth_service.application.ports import Clock, PasswordHasher, RequestContext, UnitOfWork
from auth_service.domain.audit import AuditRecord
from auth_service.domain.errors import ConflictError
from auth_service.domain.passwords import normalize_password
from auth_service.domain.principal import Principal
from auth_service.domain.users import User


@dataclass(frozen=True, slots=True)
class Enrollment:
    secret: str
    otpauth_uri: str


class MfaSettings:
    """Raises AccountLockedError, WrongCurrentPasswordError, InvalidMfaCodeError, ConflictError."""

    def __init__(self, uow: Callable[[], UnitOfWork], hasher: PasswordHasher, lockout: LockoutGuard,
                 factor: SecondFactor, clock: Clock) -> None:
        self._uow, self._hasher, self._lockout, self._factor, self._clock = uow, hasher, lockout, factor, clock

    async def enable(self, principal: Principal, password: str, ctx: RequestContext) -> Enrollment:
        """Start enrolment: a new secret, pending until confirmed with a code from it."""
        user = await self._checked_user(principal, ctx, password=password, action="mfa.enabled")
        if user.mfa_enabled:
            raise ConflictError("MFA is already on.")
        secret = self._factor.totp.new_secret()
        async with self._uow() as uow:
            user = await self._reload(uow, user.id)
            user.totp_secret_enc = self._factor.box.encrypt(secret.encode(), purpose=TOTP_PURPOSE)
            user.totp_last_step = None
            await uow.users.save(user)
            await uow.commit()
        return Enrollment(secret, self._factor.totp.provisioning_uri(secret, user.email))

    async def confirm(self, principal: Principal, code: str, ctx: RequestContext) -> list[str]:
        """Turn MFA on with a code from the new secret; returns the 10 backup codes."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._reload(uow, principal.user_id)
            if user.mfa_enabled or user.totp_secret_enc is None:
                raise ConflictError("There is no MFA enrolment to confirm; start with /api/v1/auth/mfa/enable.")
            if not await self._factor.accept_totp(uow, user, code, now):
                raise InvalidMfaCodeError()
            user.mfa_enabled, user.updated_at = True, now
            await uow.users.save(user)
            codes = await self._factor.issue_backup_codes(uow, user, now)
            await self._finish(uow, user, "mfa.enabled", "Two-factor authentication was turned on.", ctx)
        return codes

    async def regenerate(self, principal: Principal, password: str, code: str, ctx: RequestContext) -> list[str]:
        user = await self._checked_user(principal, ctx, password=password, action="mfa.backup_codes_regenerated")
        self._require_on(user)
        now = self._clock.now()
        codes: list[str] = []
        async with self._uow() as uow:
            user = await self._reload(uow, user.id)
            method = await self._factor.accept(uow, user, code, now, backup_allowed=False)
            if method is not None:
                codes = await self._factor.issue_backup_codes(uow, user, now)
                await self._finish(uow, user, "mfa.backup_codes_regenerated", "New MFA backup codes were made.", ctx)
        if method is None:
            await self._code_failure(user, "mfa.backup_codes_regenerated", ctx)
        return codes

    async def disable(self, principal: Principal, password: str, code: str, ctx: RequestContext) -> None:
        user = await self._checked_user(principal, ctx, password=password, action="mfa.disabled")
        self._require_on(user)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await self._reload(uow, user.id)
            method = await self._factor.accept(uow, user, code, now)
            if method is not None:
                user.mfa_enabled, user.totp_secret_enc, user.totp_last_step, user.updated_at = False, None, None, now
                await uow.users.save(user)
                await uow.mfa.delete_backup_codes(user.id)
                await self._finish(uow, user, "mfa.disabled", "Two-factor authentication was turned off.", ctx)
        if method is None:
            await self._code_failure(user, "mfa.disabled", ctx)

    # -- shared steps -----------------------------------------------------------------------------
    async def _checked_user(self, principal: Principal, ctx: RequestContext, *, password: str, action: str) -> User:
        """The caller's account, not locked, and the password right (a wrong one is counted)."""
        async with self._uow() as uow:
            user = await self._reload(uow, principal.user_id)
            await self._lockout.ensure_not_locked(uow, user.email, self._clock.now())
        if user.password_hash is None or not await self._hasher.verify(user.password_hash,
                                                                        normalize_password(password)):
            await self._lockout.record_failure(user.email, ctx, actor_id=user.id, company_id=user.company_id,
                                               record=self._failure(user, action, "invalid_credentials", ctx))
            raise WrongCurrentPasswordError()
        return user

    async def _code_failure(self, user: User, action: str, ctx: RequestContext) -> None:
        await self._lockout.record_failure(user.email, ctx, actor_id=user.id, company_id=user.company_id,
                                           record=self._failure(user, action, "invalid_mfa_code", ctx))
        raise InvalidMfaCodeError()

    def _failure(self, user: User, action: str, reason: str, ctx: RequestContext) -> AuditRecord:
        return audit_record(action, ctx, self._clock.now(), outcome="failure", actor_id=user.id, target_type="user",
                            target_id=user.id, company_id=user.company_id, reason=reason)

    async def _finish(self, uow: UnitOfWork, user: User, action: str, alert: str, ctx: RequestContext) -> None:
        await uow.outbox.add(security_alert_email(user.email, alert))
        await uow.audit.add(audit_record(action, ctx, self._clock.now(), actor_id=user.id, target_type="user",
                                         target_id=user.id, company_id=user.company_id))
        await uow.commit()

    @staticmethod
    async def _reload(uow: UnitOfWork, user_id: str) -> User:
        user = await uow.users.get(user_id)
        if user is None or not user.is_active:
            raise InvalidTokenError("The account is no longer active.")
        return user

    @staticmethod
    def _require_on(user: User) -> None:
        if not user.mfa_enabled:
            raise ConflictError("MFA is not on.")

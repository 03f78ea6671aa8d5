"""The second step of an MFA login (SPEC §3, §7): the `mfa_token` of the challenge and a TOTP or
backup code give the token pair. Five wrong codes void the challenge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from auth_service.application.audit import audit_record
from auth_service.application.errors import InvalidTokenError, MfaChallengeFailedError
from auth_service.application.lockout import LockoutGuard
from auth_service.application.mfa import SecondFactor
from auth_service.application.ports import (
    Clock,
    IssuedTokens,
    Metrics,
    MfaChallenge,
    PasswordCheck,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.application.token_pairs import TokenMinter
from auth_service.domain.users import User

CHALLENGE_TTL = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5
CHALLENGE_PURPOSE = "mfa-challenge"


@dataclass(frozen=True, slots=True)
class ChallengeIssued:
    mfa_token: str = field(repr=False)
    expires_in: int


async def open_challenge(uow: UnitOfWork, secrets: Secrets, user: User, clock: Clock) -> ChallengeIssued:
    """Called by login after a correct password, for a user with MFA on: no tokens yet."""
    token, now = secrets.new_token(), clock.now()
    await uow.mfa.add_challenge(MfaChallenge(token_hash=secrets.digest(token, purpose=CHALLENGE_PURPOSE),
                                             user_id=user.id, created_at=now, expires_at=now + CHALLENGE_TTL))
    return ChallengeIssued(token, int(CHALLENGE_TTL.total_seconds()))


@dataclass(frozen=True, slots=True)
class VerifyMfa:
    mfa_token: str = field(repr=False)
    code: str = field(repr=False)
    ctx: RequestContext = RequestContext()


class VerifyMfaHandler:
    """Raises InvalidTokenError (unknown, used, expired or void challenge), AccountLockedError,
    MfaChallengeFailedError (a wrong code, counted by the challenge and the lockout)."""

    def __init__(self, uow: Callable[[], UnitOfWork], secrets: Secrets, factor: SecondFactor, lockout: LockoutGuard,
                 minter: TokenMinter, clock: Clock, metrics: Metrics) -> None:
        self._uow, self._secrets, self._factor, self._lockout = uow, secrets, factor, lockout
        self._minter, self._clock, self._metrics = minter, clock, metrics

    async def __call__(self, cmd: VerifyMfa) -> IssuedTokens:
        token_hash = self._secrets.digest(cmd.mfa_token, purpose=CHALLENGE_PURPOSE)
        now = self._clock.now()
        async with self._uow() as uow:
            challenge = await uow.mfa.get_challenge(token_hash)
            user = await uow.users.get(challenge.user_id) if challenge else None
            if (challenge is None or user is None or challenge.consumed_at is not None or now >= challenge.expires_at
                    or challenge.failures >= CHALLENGE_MAX_FAILURES or not user.is_active or not user.mfa_enabled):
                raise InvalidTokenError("The MFA challenge is invalid or has expired; log in again.")
            await self._lockout.ensure_not_locked(uow, user.email, now)
            method = await self._factor.accept(uow, user, cmd.code, now)
            if method is not None:
                if not await uow.mfa.consume_challenge(token_hash, now, CHALLENGE_MAX_FAILURES):
                    raise InvalidTokenError("The MFA challenge was already used; log in again.")
                opening = self._minter.new_session(user.id, cmd.ctx, now, PasswordCheck(matches=True))
                record = audit_record("auth.login_succeeded", cmd.ctx, now, actor_id=user.id, target_type="session",
                                      target_id=opening.session.id, company_id=user.company_id,
                                      method=f"password+{method}")
                current = await uow.logins.record(user.id, now, password_hash=None, opened=opening, audit=record,
                                                  clear_failures=self._lockout.to_clear(user.email))
                if current is None:  # disabled since the challenge was read
                    raise InvalidTokenError("The MFA challenge is invalid or has expired; log in again.")
                await uow.commit()
                self._metrics.login("success")
                return opening.issue(current)
        await self._fail(token_hash, user, cmd.ctx)
        raise MfaChallengeFailedError()

    async def _fail(self, token_hash: str, user: User, ctx: RequestContext) -> None:
        async with self._uow() as uow:
            await uow.mfa.count_challenge_failure(token_hash)
            await uow.commit()
        self._metrics.login("failure")
        await self._lockout.record_failure(user.email, ctx, actor_id=user.id, company_id=user.company_id,
                                           record=audit_record("auth.mfa_challenge_failed", ctx, self._clock.now(),
                                                               outcome="failure", actor_id=user.id, target_type="user",
                                                               target_id=user.id, company_id=user.company_id))

"""The SQL unit of work: one transaction, rolled back unless committed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.application.errors import ServiceUnavailableError
from auth_service.application.ports import (
    AuditRepository,
    Clock,
    CompanyRepository,
    FailureCounterRepository,
    LoginRepository,
    MfaRepository,
    OneTimeTokenRepository,
    Outbox,
    RefreshTokenRepository,
    RegistrationRepository,
    ResendThrottleRepository,
    SecretBox,
    SessionRepository,
    SigningKeyRepository,
    UserRepository,
)
from auth_service.domain.errors import (
    CompanyNameTakenError,
    ConflictError,
    DomainError,
    EmailTakenError,
    UsernameTakenError,
)
from auth_service.infrastructure.db.errors import is_unavailable
from auth_service.infrastructure.db.repositories import (
    SqlAuditRepository,
    SqlCompanyRepository,
    SqlFailureCounterRepository,
    SqlLoginRepository,
    SqlMfaRepository,
    SqlOneTimeTokenRepository,
    SqlRefreshTokenRepository,
    SqlRegistrationRepository,
    SqlResendThrottleRepository,
    SqlSessionRepository,
    SqlSigningKeyRepository,
    SqlUserRepository,
)
from auth_service.infrastructure.mail.outbox import SqlOutbox

# SQLite names columns ("UNIQUE constraint failed: users.email"), PostgreSQL names the
# constraint ("uq_users_email"): map both (PITFALLS: constraint names).
_CONSTRAINTS: tuple[tuple[tuple[str, ...], type[DomainError], str], ...] = (
    (("uq_users_email", "users.email"), EmailTakenError, "This e-mail address is already registered."),
    (("uq_users_username", "users.username"), UsernameTakenError, "This username is already taken."),
    (("uq_companies_name_key", "companies.name_key"), CompanyNameTakenError,
     "A company with this name already exists."),
)


def error_for_constraint(exc: IntegrityError) -> DomainError:
    text = str(exc.orig)
    for needles, error_type, message in _CONSTRAINTS:
        if any(needle in text for needle in needles):
            return error_type(message)
    return ConflictError("The change conflicts with the current state; try again.")


@dataclass(frozen=True, slots=True)
class CommitHooks:
    """Called after a commit that queued e-mail or wrote audit records."""

    mail_queued: Callable[[], None] | None = None
    audit_written: Callable[[], None] | None = None


class SqlUnitOfWork:
    """`read_only`: for reads only, with a sessionmaker of `engine.reads_engine` (on PostgreSQL
    without BEGIN and ROLLBACK); commit() is refused."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, clock: Clock,
                 hooks: CommitHooks | None = None, *, read_only: bool = False) -> None:
        self._sessions, self._box, self._clock = sessions, box, clock
        self._hooks = hooks or CommitHooks()
        self._read_only = read_only

    async def __aenter__(self) -> Self:
        self._session = session = self._sessions()
        self.users: UserRepository = SqlUserRepository(session)
        self.companies: CompanyRepository = SqlCompanyRepository(session)
        self.mfa: MfaRepository = SqlMfaRepository(session)
        self.registrations: RegistrationRepository = SqlRegistrationRepository(session)
        sessions, refresh_tokens = SqlSessionRepository(session), SqlRefreshTokenRepository(session)
        failure_counters = SqlFailureCounterRepository(session)
        self.sessions: SessionRepository = sessions
        self.refresh_tokens: RefreshTokenRepository = refresh_tokens
        self.failure_counters: FailureCounterRepository = failure_counters
        self.resend_throttles: ResendThrottleRepository = SqlResendThrottleRepository(session)
        self.one_time_tokens: OneTimeTokenRepository = SqlOneTimeTokenRepository(session)
        self._audit = SqlAuditRepository(session)
        self.audit: AuditRepository = self._audit
        self.logins: LoginRepository = SqlLoginRepository(session, sessions, refresh_tokens, self._audit,
                                                          failure_counters)
        self._outbox = SqlOutbox(session, self._box, self._clock)
        self.outbox: Outbox = self._outbox
        self.keys: SigningKeyRepository = SqlSigningKeyRepository(session)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        exc = exc_info[1] if len(exc_info) > 1 else None
        # Closing rolls back what was not committed. A failure here means the connection is gone:
        # the original error matters more.
        with contextlib.suppress(Exception):
            await self._session.close()
        if isinstance(exc, BaseException) and is_unavailable(exc):
            raise ServiceUnavailableError() from exc

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        try:
            await self._session.commit()
        except IntegrityError as exc:
            # Two sign-ups can both pass the existence check; the unique index settles it.
            raise error_for_constraint(exc) from exc
        # Deliver and link now rather than at the next poll.
        if self._outbox.queued and self._hooks.mail_queued is not None:
            self._hooks.mail_queued()
        if self._audit.added and self._hooks.audit_written is not None:
            self._hooks.audit_written()

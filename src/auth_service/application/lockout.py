"""The per-email failure counter of SPEC §3 "Lockout", shared by login, /auth/token,
change-password and the MFA endpoints. State lives in the database, keyed by a keyed hash of
the submitted email, so known and unknown emails are treated alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from auth_service.application.audit import audit_record
from auth_service.application.errors import AccountLockedError
from auth_service.application.ports import Clock, RequestContext, Secrets, UnitOfWork
from auth_service.domain.audit import AuditRecord
from auth_service.domain.lockout import FailureCounter, LockoutPolicy


class LockoutGuard:
    def __init__(self, uow: Callable[[], UnitOfWork], secrets: Secrets, clock: Clock, policy: LockoutPolicy) -> None:
        self._uow, self._secrets, self._clock, self._policy = uow, secrets, clock, policy

    def key(self, email: str) -> str:
        return "lockout:" + self._secrets.digest(email, purpose="lockout")

    async def ensure_not_locked(self, uow: UnitOfWork, email: str, now: datetime) -> FailureCounter:
        """Raise AccountLockedError during a lock; attempts then are neither checked nor counted.
        Returns the counter as read, for `clear`."""
        counter = await uow.failure_counters.get(self.key(email))
        self.check(counter, now)
        return counter

    @staticmethod
    def check(counter: FailureCounter, now: datetime) -> None:
        """Raise AccountLockedError while `counter` holds a lock."""
        retry_after = counter.retry_after(now)
        if retry_after is not None:
            raise AccountLockedError(retry_after)

    async def record_failure(self, email: str, ctx: RequestContext, *, actor_id: str | None,
                             company_id: str | None = None, record: AuditRecord | None = None) -> None:
        """Count one failure in its own transaction (the request itself fails), with the audit
        `record` of the failed attempt; audit a new lock once."""
        now = self._clock.now()
        async with self._uow() as uow:
            if record is not None:
                await uow.audit.add(record)
            counter = await uow.failure_counters.get(self.key(email), for_update=True)
            if counter.retry_after(now) is not None:
                await uow.commit()  # a concurrent failure already locked it: do not extend the lock
                return
            if counter.record_failure(now, self._policy):
                await uow.audit.add(audit_record(
                    "auth.account_locked", ctx, now, outcome="failure", actor_id=actor_id,
                    target_type="user" if actor_id else None, target_id=actor_id, company_id=company_id,
                    locked_seconds=counter.retry_after(now), identifier=self.identifier(email)))
            await uow.failure_counters.save(counter)
            await uow.commit()

    async def clear(self, uow: UnitOfWork, email: str) -> None:
        """Forget the failures."""
        await uow.failure_counters.clear(self.key(email))

    def to_clear(self, email: str, seen: FailureCounter | None = None) -> str | None:
        """The counter a successful login forgets, or None when `seen`, the counter as read earlier in
        the same request, held no failures (most logins: nothing to write). A failure counted since
        then stays counted, as if it had come just after this success."""
        return None if seen is not None and seen.last_failure_at is None else self.key(email)

    def identifier(self, email: str) -> str:
        """A keyed hash of what was typed, for audit details: never the text itself."""
        return self._secrets.digest(email, purpose="audit-identifier")[:32]

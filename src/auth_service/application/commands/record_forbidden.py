"""Recording refused attempts (issue: audit): a signed-in caller asking for something their role
may never do or may not change leaves an `access.forbidden` record, so probing shows up in the
trail. Recording never changes the answer: a failure to write is logged and the 403 stands."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from auth_service.application.audit import audit_record
from auth_service.application.ports import Clock, RequestContext, UnitOfWork
from auth_service.domain.principal import Principal

log = structlog.get_logger(__name__)


class RecordForbidden:
    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, principal: Principal, method: str, path: str, ctx: RequestContext) -> None:
        try:
            async with self._uow() as uow:
                await uow.audit.add(audit_record(
                    "access.forbidden", ctx, self._clock.now(), outcome="failure", actor_id=principal.user_id,
                    company_id=principal.company_id, method=method, path=path, role=principal.role))
                await uow.commit()
        except Exception as exc:
            log.warning("forbidden_attempt_not_recorded", error=type(exc).__name__)

"""Moving a user to a company or out of all companies (SPEC §4 PUT /users/{id}/company; admins)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.access import check_company_role, managed_user, require, usable_company
from auth_service.application.audit import audit_record
from auth_service.application.errors import ForbiddenError
from auth_service.application.ports import Clock, IdentityProvider, RequestContext, RevocationList, UnitOfWork
from auth_service.application.views import UserView
from auth_service.domain.authorization import Permission, role_of
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role


@dataclass(frozen=True, slots=True)
class ChangeCompany:
    principal: Principal
    user_id: str
    company_id: str | None
    ctx: RequestContext = RequestContext()


class ChangeCompanyHandler:
    """Raises ForbiddenError (non-admins), NotFoundError, FieldValidationError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, revocations: RevocationList,
                 clock: Clock) -> None:
        self._uow, self._identity, self._revocations, self._clock = uow, identity, revocations, clock

    async def __call__(self, cmd: ChangeCompany) -> UserView:
        p, now = cmd.principal, self._clock.now()
        require(p, Permission.USERS_WRITE)
        if role_of(p) is not Role.ADMIN:
            raise ForbiddenError("Only administrators move users between companies.")
        revoked: list[str] = []
        async with self._uow() as uow:
            user = await managed_user(uow, p, cmd.user_id)
            await usable_company(uow, p, cmd.company_id)
            check_company_role(user.role, cmd.company_id, "company_id")
            if user.company_id != cmd.company_id:
                previous, user.company_id = user.company_id, cmd.company_id
                user.updated_at, user.updated_by = now, p.user_id
                await uow.users.save(user)
                await self._identity.sync(user)  # Keycloak mode: the token claims follow
                revoked = await uow.sessions.revoke_all(user.id, now, "company_changed")
                await uow.audit.add(audit_record("user.company_changed", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="user", target_id=user.id,
                                                 company_id=cmd.company_id or previous,
                                                 previous=previous, company=cmd.company_id))
                await uow.commit()
        await self._revocations.publish(revoked, now)
        return UserView.of(user, now)

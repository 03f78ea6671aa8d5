"""Changing a user's role (SPEC §4 PUT /users/{id}/role). No one changes their own role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.access import check_company_role, managed_user
from auth_service.application.audit import audit_record
from auth_service.application.commands.update_user import ensure_not_last_admin
from auth_service.application.errors import ForbiddenError
from auth_service.application.ports import Clock, IdentityProvider, RequestContext, RevocationList, UnitOfWork
from auth_service.application.views import UserView
from auth_service.domain.authorization import may_assign_role
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role


@dataclass(frozen=True, slots=True)
class ChangeRole:
    principal: Principal
    user_id: str
    role: Role
    ctx: RequestContext = RequestContext()


class ChangeRoleHandler:
    """Raises ForbiddenError, NotFoundError, FieldValidationError, LastAdminError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, revocations: RevocationList,
                 clock: Clock) -> None:
        self._uow, self._identity, self._revocations, self._clock = uow, identity, revocations, clock

    async def __call__(self, cmd: ChangeRole) -> UserView:
        p, now = cmd.principal, self._clock.now()
        if cmd.user_id == p.user_id:
            raise ForbiddenError("No one changes their own role.")
        revoked: list[str] = []
        async with self._uow() as uow:
            user = await managed_user(uow, p, cmd.user_id)
            if not may_assign_role(p, cmd.role):
                raise ForbiddenError("You may not assign this role.")
            check_company_role(cmd.role, user.company_id, "role")
            if user.role is not cmd.role:
                if user.role is Role.ADMIN:
                    await ensure_not_last_admin(uow, user)
                previous, user.role = user.role, cmd.role
                user.updated_at, user.updated_by = now, p.user_id
                await uow.users.save(user)
                await self._identity.sync(user)  # Keycloak mode: the token claims follow
                revoked = await uow.sessions.revoke_all(user.id, now, "role_changed")
                await uow.audit.add(audit_record("user.role_changed", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="user", target_id=user.id,
                                                 company_id=user.company_id or p.company_id,
                                                 previous=previous.value, role=cmd.role.value))
                await uow.commit()
        await self._revocations.publish(revoked, now)
        return UserView.of(user, now)

"""Soft-deleting a user (SPEC §4 DELETE /users/{id}): `deleted_at` set, inactive, sessions revoked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.access import managed_user
from auth_service.application.audit import audit_record
from auth_service.application.commands.update_user import ensure_not_last_admin
from auth_service.application.ports import Clock, IdentityProvider, RequestContext, RevocationList, UnitOfWork
from auth_service.domain.principal import Principal
from auth_service.domain.users import UserStatus


@dataclass(frozen=True, slots=True)
class DeleteUser:
    principal: Principal
    user_id: str
    ctx: RequestContext = RequestContext()


class DeleteUserHandler:
    """Raises ForbiddenError, NotFoundError, LastAdminError. Deleting a deleted user changes nothing."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, revocations: RevocationList,
                 clock: Clock) -> None:
        self._uow, self._identity, self._revocations, self._clock = uow, identity, revocations, clock

    async def __call__(self, cmd: DeleteUser) -> None:
        p, now = cmd.principal, self._clock.now()
        async with self._uow() as uow:
            user = await managed_user(uow, p, cmd.user_id)
            if user.status is UserStatus.DELETED:
                return
            await ensure_not_last_admin(uow, user)
            user.status, user.deleted_at, user.updated_at, user.updated_by = UserStatus.DELETED, now, now, p.user_id
            await uow.users.save(user)
            await self._identity.sync(user)  # Keycloak mode: the token claims follow
            revoked = await uow.sessions.revoke_all(user.id, now, "user_deleted")
            await uow.audit.add(audit_record("user.deleted", cmd.ctx, now, actor_id=p.user_id, target_type="user",
                                             target_id=user.id, company_id=user.company_id or p.company_id,
                                             sessions_revoked=len(revoked)))
            await uow.commit()
        await self._revocations.publish(revoked, now)

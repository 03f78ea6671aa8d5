"""Editing another account (SPEC §4 PUT /users/{id}); `is_active` moves it between active and
disabled. Scope or activation changes revoke the user's sessions at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auth_service.application.access import managed_user
from auth_service.application.audit import audit_record
from auth_service.application.commands.register_user import check_username
from auth_service.application.errors import LastAdminError
from auth_service.application.ports import Clock, IdentityProvider, RequestContext, RevocationList, UnitOfWork
from auth_service.application.views import UserView
from auth_service.domain.errors import ConflictError, FieldValidationError, UsernameTakenError
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role, User, UserStatus

EDITABLE = frozenset({"username", "first_name", "last_name", "phone", "photo", "network_id", "station_id",
                      "is_active"})
# Changing these changes what the user's tokens say or allow: end their sessions now.
REVOKING = frozenset({"network_id", "station_id", "is_active"})


@dataclass(frozen=True, slots=True)
class UpdateUser:
    principal: Principal
    user_id: str
    changes: Mapping[str, Any]  # only the fields sent; an explicit None clears an optional field
    ctx: RequestContext = field(default_factory=RequestContext)


async def ensure_not_last_admin(uow: UnitOfWork, user: User) -> None:
    """An active admin may leave only while another active admin remains."""
    if user.role is Role.ADMIN and user.status is UserStatus.ACTIVE and await uow.users.count_active_admins() <= 1:
        raise LastAdminError("This is the last active administrator.")


class UpdateUserHandler:
    """Raises ForbiddenError, NotFoundError, ConflictError, LastAdminError, UsernameTakenError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, revocations: RevocationList,
                 clock: Clock) -> None:
        self._uow, self._identity, self._revocations, self._clock = uow, identity, revocations, clock

    async def __call__(self, cmd: UpdateUser) -> UserView:
        assert set(cmd.changes) <= EDITABLE, "the HTTP schema forbids other fields"
        p, now, changes = cmd.principal, self._clock.now(), dict(cmd.changes)
        revoked: list[str] = []
        async with self._uow() as uow:
            user = await managed_user(uow, p, cmd.user_id)
            if "username" in changes:
                changes["username"] = await _checked_username(uow, user, changes["username"])
            for scope_field in ("network_id", "station_id"):
                if scope_field in changes and changes[scope_field] is None:
                    changes[scope_field] = ""
            status_before = user.status
            if "is_active" in changes:
                await _apply_activation(uow, user, changes.pop("is_active"))
            changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
            for name in changed:
                setattr(user, name, changes[name])
            if user.status is not status_before:
                changed.append("is_active")
            if changed:
                user.updated_at, user.updated_by = now, p.user_id
                await uow.users.save(user)
                await self._identity.sync(user)  # Keycloak mode: the token claims follow
                if REVOKING & set(changed):
                    revoked = await uow.sessions.revoke_all(user.id, now, "user_updated")
                await uow.audit.add(audit_record("user.updated", cmd.ctx, now, actor_id=p.user_id, target_type="user",
                                                 target_id=user.id, company_id=user.company_id or p.company_id,
                                                 fields=sorted(changed), sessions_revoked=len(revoked)))
                await uow.commit()
        await self._revocations.publish(revoked, now)
        return UserView.of(user, now)


async def _checked_username(uow: UnitOfWork, user: User, username: str | None) -> str:
    username = (username or "").strip()
    if not username:
        raise FieldValidationError("username", "The username cannot be empty.")
    check_username(username, user.email)
    if await uow.users.username_taken(username, except_user_id=user.id):
        raise UsernameTakenError("This username is already taken.")
    return username


async def _apply_activation(uow: UnitOfWork, user: User, active: bool | None) -> None:
    """`is_active` only moves a user between active and disabled (SPEC §4)."""
    if active is None:
        raise FieldValidationError("is_active", "is_active cannot be null.")
    if user.status not in (UserStatus.ACTIVE, UserStatus.DISABLED):
        raise ConflictError(f"A {user.status.value} user cannot be activated or deactivated.")
    if not active and user.status is UserStatus.ACTIVE:
        await ensure_not_last_admin(uow, user)
    user.status = UserStatus.ACTIVE if active else UserStatus.DISABLED

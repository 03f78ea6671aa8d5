"""Editing one's own profile (SPEC §4 PATCH /users/me)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auth_service.application.audit import audit_record
from auth_service.application.commands.register_user import check_username
from auth_service.application.errors import InvalidTokenError
from auth_service.application.ports import Clock, RequestContext, UnitOfWork
from auth_service.application.views import UserView
from auth_service.domain.errors import FieldValidationError, UsernameTakenError
from auth_service.domain.principal import Principal

SELF_EDITABLE = frozenset({"username", "first_name", "last_name", "phone", "photo", "profile"})


@dataclass(frozen=True, slots=True)
class UpdateMe:
    principal: Principal
    changes: Mapping[str, Any]  # only the fields sent; an explicit None clears the field
    ctx: RequestContext = field(default_factory=RequestContext)


class UpdateMeHandler:
    """Raises UsernameTakenError, FieldValidationError."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, cmd: UpdateMe) -> UserView:
        unknown = set(cmd.changes) - SELF_EDITABLE
        assert not unknown, f"not self-editable: {unknown}"  # the HTTP schema forbids them already
        now = self._clock.now()
        async with self._uow() as uow:
            user = await uow.users.get(cmd.principal.user_id)
            if user is None or not user.is_active:
                raise InvalidTokenError("The account is no longer active.")
            changes = dict(cmd.changes)
            if "username" in changes:
                username = (changes["username"] or "").strip()
                if not username:
                    raise FieldValidationError("username", "The username cannot be empty.")
                check_username(username, user.email)
                if await uow.users.username_taken(username, except_user_id=user.id):
                    raise UsernameTakenError("This username is already taken.")
                changes["username"] = username
            if "profile" in changes and changes["profile"] is None:
                changes["profile"] = {}
            changed = sorted(name for name, value in changes.items() if getattr(user, name) != value)
            for name in changed:
                setattr(user, name, changes[name])
            if changed:
                user.updated_at, user.updated_by = now, user.id
                await uow.users.save(user)
                await uow.audit.add(audit_record("user.updated", cmd.ctx, now, actor_id=user.id, target_type="user",
                                                 target_id=user.id, company_id=user.company_id, fields=changed))
                await uow.commit()
        return UserView.of(user, now)

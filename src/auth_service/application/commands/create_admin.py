"""Bootstrapping an administrator (CLI `create-admin`, BOOTSTRAP_ADMIN_EMAIL at start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.accounts import provider_account
from auth_service.application.audit import audit_record
from auth_service.application.passwords import new_credential
from auth_service.application.ports import Clock, IdentityProvider, PasswordPolicy, RequestContext, UnitOfWork
from auth_service.domain.errors import EmailTakenError, FieldValidationError
from auth_service.domain.ids import new_user_id
from auth_service.domain.users import Role, Source, User, UserStatus, is_valid_email, normalize_email


@dataclass(frozen=True, slots=True)
class CreateAdmin:
    email: str
    password: str = field(repr=False)
    only_if_no_admin: bool = False


class CreateAdminHandler:
    """Create an active, verified admin. Returns its id, or None when `only_if_no_admin` and one
    exists. Raises EmailTakenError, WeakPasswordError, BreachedPasswordError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, policy: PasswordPolicy,
                 clock: Clock) -> None:
        self._uow, self._identity, self._policy, self._clock = uow, identity, policy, clock

    async def __call__(self, cmd: CreateAdmin) -> str | None:
        email, now = normalize_email(cmd.email), self._clock.now()
        if not is_valid_email(email):
            raise FieldValidationError("email", "Not a valid e-mail address.")
        async with self._uow() as uow:
            if cmd.only_if_no_admin and await uow.users.any_admin():
                return None
        user = User(id=new_user_id(), email=email, username=email, password_hash=None, role=Role.ADMIN,
                    status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=now, updated_at=now,
                    is_verified=True)
        password, user.password_hash = await new_credential(self._policy, self._identity, cmd.password, user)
        async with self._uow() as uow:
            if await uow.users.get_by_email(email) is not None:
                raise EmailTakenError("This e-mail address is already registered.")
            await self._identity.ensure_email_free(email)
            async with provider_account(self._identity, user, password):
                await uow.users.add(user)
                await uow.audit.add(audit_record("user.created", RequestContext(), now, target_type="user",
                                                 target_id=user.id, role=user.role.value, via="bootstrap"))
                await uow.commit()
        return user.id

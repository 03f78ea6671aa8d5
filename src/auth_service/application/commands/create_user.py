"""Creating an internal user (SPEC §4 POST /users): verified at once; without a password, an
invitation with a set-password token (the reset flow) is e-mailed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auth_service.application.access import check_company_role, require, usable_company
from auth_service.application.accounts import provider_account
from auth_service.application.audit import audit_record
from auth_service.application.commands.register_user import check_username
from auth_service.application.commands.reset_password import one_time_token_hash
from auth_service.application.config import AuthConfig
from auth_service.application.emails import invitation_email
from auth_service.application.errors import ForbiddenError
from auth_service.application.passwords import new_credential
from auth_service.application.ports import (
    Clock,
    IdentityProvider,
    OneTimeToken,
    PasswordPolicy,
    RequestContext,
    Secrets,
    UnitOfWork,
)
from auth_service.application.views import UserView
from auth_service.domain.authorization import Permission, may_assign_role, role_of
from auth_service.domain.errors import EmailTakenError, FieldValidationError, UsernameTakenError
from auth_service.domain.ids import new_user_id
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role, Source, User, UserStatus, normalize_email


@dataclass(frozen=True, slots=True)
class CreateUser:
    principal: Principal
    email: str
    role: Role
    company_id: str | None = None
    network_id: str = ""
    station_id: str = ""
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    password: str | None = field(default=None, repr=False)
    ctx: RequestContext = RequestContext()


class CreateUserHandler:
    """Raises ForbiddenError, FieldValidationError, EmailTakenError, UsernameTakenError,
    WeakPasswordError, BreachedPasswordError."""

    def __init__(self, uow: Callable[[], UnitOfWork], identity: IdentityProvider, policy: PasswordPolicy,
                 secrets: Secrets, clock: Clock, config: AuthConfig) -> None:
        self._uow, self._identity, self._policy = uow, identity, policy
        self._secrets, self._clock, self._config = secrets, clock, config

    async def __call__(self, cmd: CreateUser) -> UserView:
        p, now = cmd.principal, self._clock.now()
        require(p, Permission.USERS_WRITE)
        if not may_assign_role(p, cmd.role):
            raise ForbiddenError("You may not create a user with this role.")
        company_id = cmd.company_id
        if role_of(p) is Role.PARTNER:
            # Users a partner creates land in the partner's company, and only there.
            if company_id is not None and company_id != p.company_id:
                raise FieldValidationError("company_id", "A partner creates users in its own company only.")
            company_id = p.company_id
        check_company_role(cmd.role, company_id, "company_id")
        email = normalize_email(cmd.email)
        username = cmd.username.strip() if cmd.username is not None else email
        if not username:
            raise FieldValidationError("username", "The username cannot be empty.")
        if normalize_email(username) == email:
            username = email  # the own email, however it was spelled
        check_username(username, email)
        user = User(id=new_user_id(), email=email, username=username, password_hash=None, role=cmd.role,
                    status=UserStatus.ACTIVE, source=Source.INTERNAL, created_at=now, updated_at=now,
                    is_verified=True, first_name=cmd.first_name, last_name=cmd.last_name, phone=cmd.phone,
                    company_id=company_id, network_id=cmd.network_id, station_id=cmd.station_id,
                    created_by=p.user_id, updated_by=p.user_id)
        password = None
        if cmd.password is not None:
            password, user.password_hash = await new_credential(self._policy, self._identity, cmd.password, user)

        async with self._uow() as uow:
            await usable_company(uow, p, company_id)
            if await uow.users.get_by_email(email) is not None:
                raise EmailTakenError("This e-mail address is already registered.")
            if await uow.users.username_taken(username):
                raise UsernameTakenError("This username is already taken.")
            await self._identity.ensure_email_free(email)
            async with provider_account(self._identity, user, password):
                await uow.users.add(user)
                if password is None:
                    token = self._secrets.new_token()
                    await uow.one_time_tokens.add(OneTimeToken(
                        token_hash=one_time_token_hash(self._secrets, token), purpose="invitation",
                        user_id=user.id, created_at=now, expires_at=now + self._config.invitation_ttl))
                    await uow.outbox.add(invitation_email(email, token, self._config.frontend_base))
                await uow.audit.add(audit_record("user.created", cmd.ctx, now, actor_id=p.user_id,
                                                 target_type="user", target_id=user.id,
                                                 company_id=company_id or p.company_id, role=cmd.role.value,
                                                 invited=password is None))
                await uow.commit()
        return UserView.of(user, now)

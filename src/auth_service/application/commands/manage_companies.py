"""Companies (SPEC §5): create and delete (admins), update (admins; partners their own name and
description). Deactivating a company revokes its members' sessions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from auth_service.application.access import require
from auth_service.application.audit import audit_record
from auth_service.application.errors import ForbiddenError, NotFoundError
from auth_service.application.ports import Clock, RequestContext, RevocationList, UnitOfWork
from auth_service.domain.authorization import Permission, in_scope, role_of
from auth_service.domain.companies import Company
from auth_service.domain.errors import CompanyHasUsersError, CompanyNameTakenError, FieldValidationError
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role

PARTNER_EDITABLE = frozenset({"name", "description"})
ADMIN_EDITABLE = PARTNER_EDITABLE | {"owner_user_id", "is_active"}


@dataclass(frozen=True, slots=True)
class CreateCompany:
    principal: Principal
    name: str
    description: str | None = None
    owner_user_id: str | None = None
    ctx: RequestContext = RequestContext()


@dataclass(frozen=True, slots=True)
class UpdateCompany:
    principal: Principal
    company_id: str
    changes: Mapping[str, Any]
    ctx: RequestContext = field(default_factory=RequestContext)


@dataclass(frozen=True, slots=True)
class DeleteCompany:
    principal: Principal
    company_id: str
    ctx: RequestContext = RequestContext()


class CompanyAdministration:
    """Raises ForbiddenError, NotFoundError, FieldValidationError, CompanyNameTakenError,
    CompanyHasUsersError."""

    def __init__(self, uow: Callable[[], UnitOfWork], revocations: RevocationList, clock: Clock) -> None:
        self._uow, self._revocations, self._clock = uow, revocations, clock

    async def create(self, cmd: CreateCompany) -> str:
        p, now = cmd.principal, self._clock.now()
        require(p, Permission.COMPANIES_CREATE)
        if not cmd.name.strip():
            raise FieldValidationError("name", "The name cannot be empty.")
        company = Company.create(cmd.name, now=now, description=cmd.description, owner_user_id=cmd.owner_user_id)
        async with self._uow() as uow:
            await self._check_name(uow, company.name)
            await self._check_owner(uow, cmd.owner_user_id)
            await uow.companies.add(company)
            await uow.audit.add(audit_record("company.created", cmd.ctx, now, actor_id=p.user_id,
                                             target_type="company", target_id=company.id, company_id=company.id,
                                             name=company.name))
            await uow.commit()
        return company.id

    async def update(self, cmd: UpdateCompany) -> None:
        p, now = cmd.principal, self._clock.now()
        require(p, Permission.COMPANIES_UPDATE)
        allowed = ADMIN_EDITABLE if role_of(p) is Role.ADMIN else PARTNER_EDITABLE
        revoked: list[str] = []
        async with self._uow() as uow:
            company = await self._visible(uow, p, cmd.company_id, Permission.COMPANIES_UPDATE)
            if set(cmd.changes) - allowed:
                raise ForbiddenError("You may not change " + ", ".join(sorted(set(cmd.changes) - allowed)) + ".")
            changes = dict(cmd.changes)
            if "name" in changes:
                if not (changes["name"] or "").strip():
                    raise FieldValidationError("name", "The name cannot be empty.")
                changes["name"] = changes["name"].strip()
                if changes["name"] != company.name:
                    await self._check_name(uow, changes["name"], except_company_id=company.id)
            if changes.get("owner_user_id") is not None:
                await self._check_owner(uow, changes["owner_user_id"])
            if "is_active" in changes and changes["is_active"] is None:
                raise FieldValidationError("is_active", "is_active cannot be null.")
            changed = sorted(name for name, value in changes.items() if getattr(company, name) != value)
            if not changed:
                return
            for name in changed:
                setattr(company, name, changes[name])
            company.updated_at = now
            await uow.companies.save(company)
            if "is_active" in changed and not company.is_active:
                revoked = await uow.sessions.revoke_all_in_company(company.id, now, "company_deactivated")
            await uow.audit.add(audit_record("company.updated", cmd.ctx, now, actor_id=p.user_id,
                                             target_type="company", target_id=company.id, company_id=company.id,
                                             fields=changed, sessions_revoked=len(revoked)))
            await uow.commit()
        await self._revocations.publish(revoked, now)

    async def delete(self, cmd: DeleteCompany) -> None:
        p, now = cmd.principal, self._clock.now()
        require(p, Permission.COMPANIES_DELETE)
        async with self._uow() as uow:
            company = await self._visible(uow, p, cmd.company_id, Permission.COMPANIES_DELETE)
            if await uow.companies.active_member_count(company.id) > 0:
                raise CompanyHasUsersError("Active users still belong to this company.")
            company.deleted_at, company.is_active, company.updated_at = now, False, now
            await uow.companies.save(company)
            await uow.audit.add(audit_record("company.deleted", cmd.ctx, now, actor_id=p.user_id,
                                             target_type="company", target_id=company.id, company_id=company.id))
            await uow.commit()

    @staticmethod
    async def _visible(uow: UnitOfWork, p: Principal, company_id: str, permission: Permission) -> Company:
        company = await uow.companies.get(company_id)
        if company is None or company.is_deleted or not in_scope(p, permission, company.id):
            raise NotFoundError("Company not found.")
        return company

    @staticmethod
    async def _check_name(uow: UnitOfWork, name: str, except_company_id: str | None = None) -> None:
        if await uow.companies.name_taken(name, except_company_id=except_company_id):
            raise CompanyNameTakenError("A company with this name already exists.")

    @staticmethod
    async def _check_owner(uow: UnitOfWork, owner_user_id: str | None) -> None:
        if owner_user_id is not None and await uow.users.get(owner_user_id) is None:
            raise FieldValidationError("owner_user_id", "No such user.")

"""Authorization checks shared by the administration use cases: the policy of
domain/authorization.py applied to loaded records, in the order SPEC §4 prescribes:
a role that may never use the endpoint → 403; a record the caller may not see → 404;
a visible record the caller may not change → 403."""

from __future__ import annotations

from auth_service.application.errors import ForbiddenError, NotFoundError
from auth_service.application.ports import UnitOfWork
from auth_service.domain.authorization import (
    COMPANY_ROLES,
    Permission,
    may_manage_user,
    may_see_user,
    role_of,
    scope_of,
)
from auth_service.domain.companies import Company
from auth_service.domain.errors import FieldValidationError
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role, User


def require(principal: Principal, permission: Permission) -> None:
    if scope_of(principal, permission) is None:
        raise ForbiddenError()


async def visible_user(uow: UnitOfWork, principal: Principal, user_id: str) -> User:
    user = await uow.users.get(user_id)
    if user is None or not may_see_user(principal, user):
        raise NotFoundError("User not found.")
    return user


async def managed_user(uow: UnitOfWork, principal: Principal, user_id: str) -> User:
    """A user the caller may change: 403 for a role without users:write, 404 if not visible."""
    require(principal, Permission.USERS_WRITE)
    user = await visible_user(uow, principal, user_id)
    if not may_manage_user(principal, user):
        raise ForbiddenError("You may not change this user.")
    return user


async def usable_company(uow: UnitOfWork, principal: Principal, company_id: str | None) -> Company | None:
    """A company a body may name: it must exist and be visible to the caller (else 422)."""
    if company_id is None:
        return None
    company = await uow.companies.get(company_id)
    visible = role_of(principal) is Role.ADMIN or company_id == principal.company_id
    if company is None or company.is_deleted or not visible:
        raise FieldValidationError("company_id", "No such company.")
    return company


def check_company_role(role: Role, company_id: str | None, field: str) -> None:
    """Partners and operators always belong to a company."""
    if role in COMPANY_ROLES and company_id is None:
        raise FieldValidationError(field, f"A {role.value} must belong to a company.")

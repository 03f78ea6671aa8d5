"""Who may do what (SPEC §4 "Roles and permissions"), written once as a table and decided from
the caller's token claims, never from a database read. Handlers ask; routes never decide."""

from __future__ import annotations

from enum import StrEnum

from auth_service.domain.principal import Principal
from auth_service.domain.users import Role, User, UserStatus


class Scope(StrEnum):
    ALL = "all"
    OWN_COMPANY = "own_company"


class Permission(StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    COMPANIES_READ = "companies:read"
    COMPANIES_CREATE = "companies:create"
    COMPANIES_UPDATE = "companies:update"
    COMPANIES_DELETE = "companies:delete"
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"


ALL, OWN = Scope.ALL, Scope.OWN_COMPANY

# The permission table of SPEC §4. A missing entry means "never" (403).
PERMISSIONS: dict[Role, dict[Permission, Scope]] = {
    Role.ADMIN: {p: ALL for p in Permission},
    Role.PARTNER: {
        Permission.USERS_READ: OWN, Permission.USERS_WRITE: OWN, Permission.COMPANIES_READ: OWN,
        Permission.COMPANIES_UPDATE: OWN, Permission.AUDIT_READ: OWN, Permission.AUDIT_EXPORT: OWN,
    },
    Role.OPERATOR: {Permission.USERS_READ: OWN, Permission.COMPANIES_READ: OWN},
    Role.USER: {},
}

# Roles a partner may manage and hand out: never admin or partner.
PARTNER_MANAGED_ROLES = frozenset({Role.OPERATOR, Role.USER})
# Roles that only make sense inside a company.
COMPANY_ROLES = frozenset({Role.PARTNER, Role.OPERATOR})


def role_of(principal: Principal) -> Role:
    try:
        return Role(principal.role)
    except ValueError:
        return Role.USER  # an unknown role claim gets the least privilege


def scope_of(principal: Principal, permission: Permission) -> Scope | None:
    """The caller's reach for `permission`, or None when the role never has it."""
    return PERMISSIONS[role_of(principal)].get(permission)


def company_filter(principal: Principal, permission: Permission) -> tuple[bool, str | None]:
    """(restricted, company_id) for list queries: admins see all; others only their own company,
    and a caller without a company sees nothing (a null company matches no one)."""
    scope = scope_of(principal, permission)
    return (scope is not Scope.ALL, principal.company_id)


def in_scope(principal: Principal, permission: Permission, company_id: str | None) -> bool:
    scope = scope_of(principal, permission)
    if scope is Scope.ALL:
        return True
    return scope is Scope.OWN_COMPANY and company_id is not None and company_id == principal.company_id


def may_see_user(principal: Principal, user: User) -> bool:
    return user.id == principal.user_id or in_scope(principal, Permission.USERS_READ, user.company_id)


def may_manage_user(principal: Principal, user: User) -> bool:
    """Write access to another account: admins to all; partners to live operator/user accounts of
    their own company."""
    if role_of(principal) is Role.ADMIN:
        return True
    return (in_scope(principal, Permission.USERS_WRITE, user.company_id) and user.role in PARTNER_MANAGED_ROLES
            and user.status is not UserStatus.DELETED)


def may_assign_role(principal: Principal, role: Role) -> bool:
    return role_of(principal) is Role.ADMIN or (
        role_of(principal) is Role.PARTNER and role in PARTNER_MANAGED_ROLES)

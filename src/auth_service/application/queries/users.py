"""Reading users (SPEC §4 GET /users, GET /users/{id}, GET /companies/{id}/users)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auth_service.application.access import require, visible_user
from auth_service.application.errors import NotFoundError
from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import Clock, UnitOfWork, UserQuery, UserViews
from auth_service.application.views import UserView
from auth_service.domain.authorization import Permission, company_filter, in_scope
from auth_service.domain.principal import Principal


@dataclass(frozen=True, slots=True)
class ListUsers:
    principal: Principal
    page: PageRequest = PageRequest()
    role: str | None = None
    company_id: str | None = None
    status: str | None = None
    q: str | None = None
    sort: str = "-created_at"


class ListUsersHandler:
    """Filters only narrow what the caller may see: a partner asking for company B gets nothing."""

    def __init__(self, views: UserViews, clock: Clock) -> None:
        self._views, self._clock = views, clock

    async def __call__(self, cmd: ListUsers) -> Page[UserView]:
        require(cmd.principal, Permission.USERS_READ)
        restricted, own_company = company_filter(cmd.principal, Permission.USERS_READ)
        query = UserQuery(only_company_id=own_company if restricted else None, restricted=restricted,
                          role=cmd.role, company_id=cmd.company_id, status=cmd.status, q=cmd.q, sort=cmd.sort)
        return await self._views.list(query, cmd.page, self._clock.now())


class GetUserHandler:
    """Self, or a user the caller may read; anyone else is 404, as if they did not exist."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, principal: Principal, user_id: str) -> UserView:
        async with self._uow() as uow:
            user = await visible_user(uow, principal, user_id)
        return UserView.of(user, self._clock.now())


class ListCompanyUsersHandler:
    def __init__(self, uow: Callable[[], UnitOfWork], list_users: ListUsersHandler) -> None:
        self._uow, self._list_users = uow, list_users

    async def __call__(self, cmd: ListUsers) -> Page[UserView]:
        require(cmd.principal, Permission.USERS_READ)
        assert cmd.company_id is not None
        async with self._uow() as uow:
            company = await uow.companies.get(cmd.company_id)
        if (company is None or company.is_deleted
                or not in_scope(cmd.principal, Permission.COMPANIES_READ, company.id)):
            raise NotFoundError("Company not found.")
        return await self._list_users(cmd)

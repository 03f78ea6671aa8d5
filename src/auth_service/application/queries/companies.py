"""Reading companies (SPEC §5): admins see all; partners and operators their own."""

from __future__ import annotations

from auth_service.application.access import require
from auth_service.application.errors import NotFoundError
from auth_service.application.pagination import Page, PageRequest
from auth_service.application.ports import CompanyViews
from auth_service.application.views import CompanyView
from auth_service.domain.authorization import Permission, company_filter, in_scope
from auth_service.domain.principal import Principal


class CompanyQueries:
    def __init__(self, views: CompanyViews) -> None:
        self._views = views

    async def list(self, principal: Principal, page: PageRequest) -> Page[CompanyView]:
        require(principal, Permission.COMPANIES_READ)
        restricted, own_company = company_filter(principal, Permission.COMPANIES_READ)
        return await self._views.list(own_company, restricted, page)

    async def get(self, principal: Principal, company_id: str) -> CompanyView:
        require(principal, Permission.COMPANIES_READ)
        view = await self._views.get(company_id)
        if view is None or not in_scope(principal, Permission.COMPANIES_READ, view.id):
            raise NotFoundError("Company not found.")
        return view

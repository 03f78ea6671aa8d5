"""/api/v1/companies: tenants (SPEC §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from auth_service.application.commands.manage_companies import CreateCompany, DeleteCompany, UpdateCompany
from auth_service.application.queries.users import ListUsers
from auth_service.interfaces.http.admin_schemas import (
    CompanyListResponse,
    CompanyResponse,
    CreateCompanyRequest,
    RoleName,
    StatusName,
    UpdateCompanyRequest,
    UserListResponse,
    UserSort,
)
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.routes.users import PageDep

router = APIRouter(prefix="/companies", tags=["companies"])
CompanyId = Annotated[str, Path(max_length=64)]


@router.get("", responses=errors(401, 403, 422))
async def list_companies(principal: PrincipalDep, handlers: HandlersDep, page: PageDep) -> CompanyListResponse:
    return CompanyListResponse.of(await handlers.companies.list(principal, page))


@router.post("", status_code=201, responses=errors(401, 403, 409, 422))
async def create_company(body: CreateCompanyRequest, principal: PrincipalDep, handlers: HandlersDep,
                         ctx: ContextDep) -> CompanyResponse:
    company_id = await handlers.company_admin.create(CreateCompany(
        principal=principal, name=body.name, description=body.description, owner_user_id=body.owner_user_id,
        ctx=ctx))
    return CompanyResponse.of(await handlers.companies.get(principal, company_id))


@router.get("/{company_id}", responses=errors(401, 403, 404))
async def get_company(company_id: CompanyId, principal: PrincipalDep, handlers: HandlersDep) -> CompanyResponse:
    return CompanyResponse.of(await handlers.companies.get(principal, company_id))


@router.put("/{company_id}", responses=errors(401, 403, 404, 409, 422))
async def update_company(company_id: CompanyId, body: UpdateCompanyRequest, principal: PrincipalDep,
                         handlers: HandlersDep, ctx: ContextDep) -> CompanyResponse:
    await handlers.company_admin.update(UpdateCompany(principal=principal, company_id=company_id,
                                                      changes=body.model_dump(exclude_unset=True), ctx=ctx))
    return CompanyResponse.of(await handlers.companies.get(principal, company_id))


@router.delete("/{company_id}", status_code=204, responses=errors(401, 403, 404, 409))
async def delete_company(company_id: CompanyId, principal: PrincipalDep, handlers: HandlersDep,
                         ctx: ContextDep) -> Response:
    await handlers.company_admin.delete(DeleteCompany(principal=principal, company_id=company_id, ctx=ctx))
    return Response(status_code=204)


@router.get("/{company_id}/users", responses=errors(401, 403, 404, 422))
async def list_company_users(
    company_id: CompanyId,
    principal: PrincipalDep,
    handlers: HandlersDep,
    page: PageDep,
    role: RoleName | None = None,
    status: StatusName | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: UserSort = "-created_at",
) -> UserListResponse:
    return UserListResponse.of(await handlers.list_company_users(ListUsers(
        principal=principal, page=page, role=role, company_id=company_id, status=status, q=q, sort=sort)))

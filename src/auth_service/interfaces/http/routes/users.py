"""/api/v1/users: user administration (SPEC §4). Authorization is decided in the handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from auth_service.application.commands.change_company import ChangeCompany
from auth_service.application.commands.change_role import ChangeRole
from auth_service.application.commands.create_user import CreateUser
from auth_service.application.commands.delete_user import DeleteUser
from auth_service.application.commands.update_user import UpdateUser
from auth_service.application.pagination import MAX_PAGE_SIZE, PageRequest
from auth_service.application.queries.users import ListUsers
from auth_service.domain.users import Role
from auth_service.interfaces.http.admin_schemas import (
    CompanyAssignmentRequest,
    CreateUserRequest,
    RoleName,
    RoleRequest,
    StatusName,
    UpdateUserRequest,
    UserListResponse,
    UserSort,
)
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.schemas import UserResponse

router = APIRouter(prefix="/users", tags=["users"])
UserId = Annotated[str, Path(max_length=64)]


async def page_request(page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                       page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20) -> PageRequest:
    return PageRequest(page, page_size)


PageDep = Annotated[PageRequest, Depends(page_request)]


@router.get("", responses=errors(401, 403, 422))
async def list_users(
    principal: PrincipalDep,
    handlers: HandlersDep,
    page: PageDep,
    role: RoleName | None = None,
    company_id: Annotated[str | None, Query(max_length=64)] = None,
    status: StatusName | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: UserSort = "-created_at",
) -> UserListResponse:
    return UserListResponse.of(await handlers.list_users(ListUsers(
        principal=principal, page=page, role=role, company_id=company_id, status=status, q=q, sort=sort)))


@router.post("", status_code=201, responses=errors(401, 403, 409, 422))
async def create_user(body: CreateUserRequest, principal: PrincipalDep, handlers: HandlersDep,
                      ctx: ContextDep) -> UserResponse:
    view = await handlers.create_user(CreateUser(
        principal=principal, email=body.email, role=Role(body.role), company_id=body.company_id,
        network_id=body.network_id, station_id=body.station_id, username=body.username,
        first_name=body.first_name, last_name=body.last_name, phone=body.phone,
        password=body.password.get_secret_value() if body.password else None, ctx=ctx))
    return UserResponse.of(view)


@router.get("/{user_id}", responses=errors(401, 404))
async def get_user(user_id: UserId, principal: PrincipalDep, handlers: HandlersDep) -> UserResponse:
    return UserResponse.of(await handlers.get_user(principal, user_id))


@router.put("/{user_id}", responses=errors(401, 403, 404, 409, 422))
async def update_user(user_id: UserId, body: UpdateUserRequest, principal: PrincipalDep, handlers: HandlersDep,
                      ctx: ContextDep) -> UserResponse:
    changes = body.model_dump(exclude_unset=True)
    return UserResponse.of(await handlers.update_user(UpdateUser(principal=principal, user_id=user_id,
                                                                 changes=changes, ctx=ctx)))


@router.delete("/{user_id}", status_code=204, responses=errors(401, 403, 404, 409))
async def delete_user(user_id: UserId, principal: PrincipalDep, handlers: HandlersDep, ctx: ContextDep) -> Response:
    await handlers.delete_user(DeleteUser(principal=principal, user_id=user_id, ctx=ctx))
    return Response(status_code=204)


@router.put("/{user_id}/role", responses=errors(401, 403, 404, 409, 422))
async def change_role(user_id: UserId, body: RoleRequest, principal: PrincipalDep, handlers: HandlersDep,
                      ctx: ContextDep) -> UserResponse:
    return UserResponse.of(await handlers.change_role(ChangeRole(principal=principal, user_id=user_id,
                                                                 role=Role(body.role), ctx=ctx)))


@router.put("/{user_id}/company", responses=errors(401, 403, 404, 422))
async def change_company(user_id: UserId, body: CompanyAssignmentRequest, principal: PrincipalDep,
                         handlers: HandlersDep, ctx: ContextDep) -> UserResponse:
    return UserResponse.of(await handlers.change_company(ChangeCompany(
        principal=principal, user_id=user_id, company_id=body.company_id, ctx=ctx)))

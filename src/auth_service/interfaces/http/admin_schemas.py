"""Request and response models of the administration API (SPEC §4 users, §5 companies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from auth_service.application.pagination import Page
from auth_service.application.views import CompanyView, UserView
from auth_service.interfaces.http.schemas import Email, Name, Password, Phone, PhotoUrl, Request, UserResponse

RoleName = Literal["admin", "partner", "operator", "user"]
StatusName = Literal["pending_verification", "active", "verification_expired", "disabled", "deleted"]
UserSort = Literal["created_at", "-created_at", "email", "-email"]
ScopeId = Annotated[str, Field(max_length=64)]
EntityId = Annotated[str, Field(min_length=1, max_length=64)]
Username = Annotated[str, Field(min_length=1, max_length=254)]


class UserListResponse(BaseModel):
    items: list[UserResponse]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[UserView]) -> UserListResponse:
        return cls(items=[UserResponse.of(view) for view in page.items], page=page.page, page_size=page.page_size,
                   total=page.total)


class CreateUserRequest(Request):
    email: Email
    role: RoleName
    company_id: EntityId | None = None
    network_id: ScopeId = ""
    station_id: ScopeId = ""
    username: Username | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    password: Password | None = None


class UpdateUserRequest(Request):
    username: Username | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    photo: PhotoUrl | None = None
    network_id: ScopeId | None = None
    station_id: ScopeId | None = None
    is_active: bool | None = None


class RoleRequest(Request):
    role: RoleName


class CompanyAssignmentRequest(Request):
    company_id: EntityId | None  # required; null takes the user out of every company


class CompanyResponse(BaseModel):
    id: str
    name: str
    description: str | None
    owner_user_id: str | None
    is_active: bool
    user_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: CompanyView) -> CompanyResponse:
        return cls.model_validate(view, from_attributes=True)


class CompanyListResponse(BaseModel):
    items: list[CompanyResponse]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[CompanyView]) -> CompanyListResponse:
        return cls(items=[CompanyResponse.of(view) for view in page.items], page=page.page,
                   page_size=page.page_size, total=page.total)


CompanyName = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]


class CreateCompanyRequest(Request):
    name: CompanyName
    description: Description | None = None
    owner_user_id: EntityId | None = None


class UpdateCompanyRequest(Request):
    name: CompanyName | None = None
    description: Description | None = None
    owner_user_id: EntityId | None = None
    is_active: bool | None = None

"""HTTP request and response models. Requests forbid unknown fields (SPEC §2): a client can never
set `role`, `status` or `is_verified` through a field an endpoint does not list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from auth_service.application.ports import IssuedTokens
from auth_service.application.views import MySessionView, UserView
from auth_service.domain.users import is_valid_email, normalize_email

PROFILE_MAX_BYTES = 16 * 1024


def _email(value: str) -> str:
    if not is_valid_email(normalize_email(value)):
        raise ValueError("not a valid e-mail address")
    return value


def _https_url(value: str | None) -> str | None:
    if value is not None and not value.startswith("https://"):
        raise ValueError("must be an https:// URL")
    return value


# `format: email` in the document, so that clients and fuzzers send addresses.
Email = Annotated[str, Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
                  AfterValidator(_email)]
# Length is checked by the password policy (in code points, after NFKC); this bound only stops abuse.
Password = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
Name = Annotated[str, Field(max_length=100)]
Phone = Annotated[str, Field(max_length=32, pattern=r"^[0-9+()\-. ]{3,32}$")]
PhotoUrl = Annotated[str, Field(max_length=2048), AfterValidator(_https_url)]
# Room for a JWT too: a token of the wrong kind is an invalid token (401), not a malformed body.
OpaqueToken = Annotated[str, Field(min_length=1, max_length=4096)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(Request):
    email: Email
    password: Password
    username: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None


class RegisterResponse(BaseModel):
    registration_id: str
    user_id: str
    email: str
    status: Literal["pending_verification"]
    expires_at: datetime


class VerifyEmailRequest(Request):
    token: OpaqueToken | None = None
    email: Email | None = None
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")] | None = None

    @model_validator(mode="after")
    def _token_or_code(self) -> VerifyEmailRequest:
        if (self.token is None) == (self.email is None or self.code is None) or (
                self.token is not None and (self.email or self.code)):
            raise ValueError("send either {token} or {email, code}")
        return self


class VerifyEmailResponse(BaseModel):
    user_id: str
    status: str


class EmailRequest(Request):
    email: Email


class MessageResponse(BaseModel):
    message: str


class LoginRequest(Request):
    email: Email
    password: Password


class RefreshRequest(Request):
    refresh_token: OpaqueToken


class LogoutRequest(Request):
    refresh_token: OpaqueToken | None = None


class ResetPasswordRequest(Request):
    token: OpaqueToken
    new_password: Password


class ChangePasswordRequest(Request):
    current_password: Password
    new_password: Password


class UserResponse(BaseModel):
    id: str
    email: str
    username: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    photo: str | None
    role: Literal["admin", "partner", "operator", "user"]
    company_id: str | None
    network_id: str
    station_id: str
    source: Literal["web", "internal"]
    status: Literal["pending_verification", "active", "verification_expired", "disabled", "deleted"]
    is_verified: bool
    is_active: bool
    mfa_enabled: bool
    profile: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    updated_by: str | None
    last_login_at: datetime | None

    @classmethod
    def of(cls, view: UserView) -> UserResponse:
        return cls.model_validate(view, from_attributes=True)


class TokenPairResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_expires_in: int
    session_id: str
    user: UserResponse
    id_token: str | None = Field(default=None, description="Keycloak mode: Keycloak's ID token (never a bearer)")

    @classmethod
    def of(cls, tokens: IssuedTokens, now: datetime) -> TokenPairResponse:
        return cls(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                   expires_in=tokens.expires_in, refresh_expires_in=tokens.refresh_expires_in,
                   session_id=tokens.session_id, user=UserResponse.of(UserView.of(tokens.user, now)),
                   id_token=tokens.extra.get("id_token"))


class ValidateTokenResponse(BaseModel):
    valid: Literal[True] = True
    claims: dict[str, Any]
    expires_at: datetime


class IntrospectionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    active: bool


class UpdateMeRequest(Request):
    username: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    photo: PhotoUrl | None = None
    profile: dict[str, Any] | None = None

    @field_validator("profile")
    @classmethod
    def _small_profile(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        try:
            size = len(orjson.dumps(value))
        except orjson.JSONEncodeError:  # an integer past 64 bits: not every JSON reader keeps it exact
            raise ValueError("profile numbers must be integers of at most 64 bits or decimals") from None
        if size > PROFILE_MAX_BYTES:
            raise ValueError("profile must be at most 16 KiB of JSON")
        return value


class SessionResponse(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool

    @classmethod
    def of(cls, view: MySessionView) -> SessionResponse:
        return cls.model_validate(view, from_attributes=True)


class SessionListResponse(BaseModel):
    items: list[SessionResponse]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] | None
    trace_id: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str


class ReadinessResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]

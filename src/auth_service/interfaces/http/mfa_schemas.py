"""Request and response models of MFA (SPEC §7)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from auth_service.interfaces.http.schemas import Password, Request

Code = Annotated[str, Field(min_length=6, max_length=16)]  # a TOTP code or a backup code


class PasswordRequest(Request):
    password: Password


class CodeRequest(Request):
    code: Code


class PasswordAndCodeRequest(Request):
    password: Password
    code: Code


class MfaVerifyRequest(Request):
    mfa_token: Annotated[str, Field(min_length=1, max_length=512)]
    code: Code


class EnrollmentResponse(BaseModel):
    secret: str
    otpauth_uri: str


class BackupCodesResponse(BaseModel):
    backup_codes: list[str]


class MfaChallengeResponse(BaseModel):
    mfa_required: Literal[True] = True
    mfa_token: str
    methods: list[str] = ["totp", "backup_code"]
    expires_in: int

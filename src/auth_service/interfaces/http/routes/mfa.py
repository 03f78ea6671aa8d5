"""MFA (SPEC §7): enrolment and settings for the signed-in user, and the login challenge."""

from __future__ import annotations

from fastapi import APIRouter, Response

from auth_service.application.commands.verify_mfa import VerifyMfa
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.mfa_schemas import (
    BackupCodesResponse,
    CodeRequest,
    EnrollmentResponse,
    MfaVerifyRequest,
    PasswordAndCodeRequest,
    PasswordRequest,
)
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.routes.auth import change_password
from auth_service.interfaces.http.schemas import TokenPairResponse

auth_router = APIRouter(prefix="/auth/mfa", tags=["mfa"])
security_router = APIRouter(prefix="/security", tags=["security"])


@auth_router.post("/enable", responses=errors(400, 401, 404, 409, 422, 429))
async def enable(body: PasswordRequest, principal: PrincipalDep, handlers: HandlersDep,
                 ctx: ContextDep) -> EnrollmentResponse:
    """Start enrolment: the secret to put in an authenticator app; MFA is on once confirmed."""
    enrollment = await handlers.mfa.enable(principal, body.password.get_secret_value(), ctx)
    return EnrollmentResponse(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)


@auth_router.post("/verify", responses=errors(401, 404, 422, 429))
async def verify_challenge(body: MfaVerifyRequest, handlers: HandlersDep, ctx: ContextDep) -> TokenPairResponse:
    """The second step of a login that answered `mfa_required`."""
    tokens = await handlers.verify_mfa(VerifyMfa(mfa_token=body.mfa_token, code=body.code, ctx=ctx))
    return TokenPairResponse.of(tokens, handlers.clock.now())


@security_router.post("/mfa/verify", responses=errors(400, 401, 404, 409, 422))
async def confirm(body: CodeRequest, principal: PrincipalDep, handlers: HandlersDep,
                  ctx: ContextDep) -> BackupCodesResponse:
    return BackupCodesResponse(backup_codes=await handlers.mfa.confirm(principal, body.code, ctx))


@security_router.post("/mfa/backup", responses=errors(400, 401, 404, 409, 422, 429))
async def regenerate_backup_codes(body: PasswordAndCodeRequest, principal: PrincipalDep, handlers: HandlersDep,
                                  ctx: ContextDep) -> BackupCodesResponse:
    codes = await handlers.mfa.regenerate(principal, body.password.get_secret_value(), body.code, ctx)
    return BackupCodesResponse(backup_codes=codes)


@security_router.post("/mfa/disable", status_code=204, responses=errors(400, 401, 404, 409, 422, 429))
async def disable(body: PasswordAndCodeRequest, principal: PrincipalDep, handlers: HandlersDep,
                  ctx: ContextDep) -> Response:
    await handlers.mfa.disable(principal, body.password.get_secret_value(), body.code, ctx)
    return Response(status_code=204)


# PATCH /security/password is POST /auth/change-password under the security settings (SPEC §7).
security_router.add_api_route("/password", change_password, methods=["PATCH"], responses=errors(400, 401, 422, 429),
                              summary="Change Password", operation_id="change_password_security")

"""/api/v1/auth: the account lifecycle of SPEC §3. Routes translate HTTP to commands, nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from auth_service.application.commands.change_password import ChangePassword
from auth_service.application.commands.log_in import LogIn
from auth_service.application.commands.refresh_tokens import RefreshTokens
from auth_service.application.commands.register_user import RegisterUser
from auth_service.application.commands.resend_verification import ResendVerification
from auth_service.application.commands.reset_password import ForgotPassword, ResetPassword
from auth_service.application.commands.revoke_sessions import LogOut, LogOutAll, RevokeToken
from auth_service.application.commands.verify_email import VerifyEmail
from auth_service.application.commands.verify_mfa import ChallengeIssued
from auth_service.application.errors import BadRequestError
from auth_service.interfaces.http.dependencies import ContextDep, HandlersDep, PrincipalDep
from auth_service.interfaces.http.introspection import introspection_caller
from auth_service.interfaces.http.mfa_schemas import MfaChallengeResponse
from auth_service.interfaces.http.openapi import errors
from auth_service.interfaces.http.schemas import (
    ChangePasswordRequest,
    EmailRequest,
    IntrospectionResponse,
    LoginRequest,
    LogoutRequest,
    MessageResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    ResetPasswordRequest,
    TokenPairResponse,
    ValidateTokenResponse,
    VerifyEmailRequest,
    VerifyEmailResponse,
)

router = APIRouter(prefix="/auth", tags=["auth"])
_basic = HTTPBasic(auto_error=False)


@router.post("/register", status_code=201, responses=errors(409, 422, 429))
async def register(body: RegisterRequest, handlers: HandlersDep, ctx: ContextDep) -> RegisterResponse:
    started = await handlers.register_user(RegisterUser(
        email=body.email, password=body.password.get_secret_value(), username=body.username,
        first_name=body.first_name, last_name=body.last_name, phone=body.phone, ctx=ctx))
    return RegisterResponse(registration_id=started.registration_id, user_id=started.user_id,
                            email=started.email, status="pending_verification", expires_at=started.expires_at)


@router.post("/verify-email", responses=errors(400, 410, 422, 429))
async def verify_email(body: VerifyEmailRequest, handlers: HandlersDep, ctx: ContextDep) -> VerifyEmailResponse:
    verified = await handlers.verify_email(VerifyEmail(token=body.token, email=body.email, code=body.code, ctx=ctx))
    return VerifyEmailResponse(user_id=verified.user_id, status=verified.status)


@router.post("/verify-email/resend", responses=errors(422, 429))
async def resend_verification(body: EmailRequest, handlers: HandlersDep, ctx: ContextDep) -> MessageResponse:
    await handlers.resend_verification(ResendVerification(email=body.email, ctx=ctx))
    return MessageResponse(message="If that address has a pending registration, a new message is on its way.")


@router.post("/login", responses=errors(401, 403, 422, 429))
async def login(body: LoginRequest, handlers: HandlersDep, ctx: ContextDep) -> TokenPairResponse | MfaChallengeResponse:
    """The token pair, or for a user with MFA on the challenge to answer at /auth/mfa/verify."""
    outcome = await handlers.log_in(LogIn(email=body.email, password=body.password.get_secret_value(), ctx=ctx))
    if isinstance(outcome, ChallengeIssued):
        return MfaChallengeResponse(mfa_token=outcome.mfa_token, expires_in=outcome.expires_in)
    return TokenPairResponse.of(outcome, handlers.clock.now())


@router.post("/token", responses=errors(400, 401, 403, 422, 429))
async def token(
    handlers: HandlersDep,
    ctx: ContextDep,
    grant_type: Annotated[str, Form()],
    username: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    scope: Annotated[str, Form()] = "",
    client_id: Annotated[str | None, Form()] = None,
) -> TokenPairResponse:
    """RFC 6749 §4.3 password grant, so Swagger UI's Authorize button works."""
    if grant_type != "password":
        raise BadRequestError("Only grant_type=password is supported here.", error="unsupported_grant_type")
    tokens = await handlers.log_in(LogIn(email=username, password=password, ctx=ctx, password_grant=True))
    assert not isinstance(tokens, ChallengeIssued)  # the password grant raises MfaRequiredError instead
    return TokenPairResponse.of(tokens, handlers.clock.now())


@router.post("/refresh", responses=errors(401, 422, 429))
async def refresh(body: RefreshRequest, handlers: HandlersDep, ctx: ContextDep) -> TokenPairResponse:
    tokens = await handlers.refresh_tokens(RefreshTokens(refresh_token=body.refresh_token, ctx=ctx))
    return TokenPairResponse.of(tokens, handlers.clock.now())


# Two routes rather than one api_route: OpenAPI needs an operation id of its own for each method.
@router.post("/logout", status_code=204, responses=errors(401, 422))
@router.delete("/logout", status_code=204, responses=errors(401, 422))
async def logout(principal: PrincipalDep, handlers: HandlersDep, ctx: ContextDep,
                 body: LogoutRequest | None = None) -> Response:
    await handlers.sessions.log_out(LogOut(principal=principal, refresh_token=body.refresh_token if body else None,
                                           ctx=ctx))
    return Response(status_code=204)


@router.post("/logout-all", status_code=204, responses=errors(401))
async def logout_all(principal: PrincipalDep, handlers: HandlersDep, ctx: ContextDep) -> Response:
    await handlers.sessions.log_out_all(LogOutAll(principal=principal, ctx=ctx))
    return Response(status_code=204)


@router.post("/revoke", response_class=Response,
             responses={200: {"description": "Revoked, or nothing to revoke (RFC 7009 §2.2).", "content": {}},
                        **errors(422)})
async def revoke(handlers: HandlersDep, ctx: ContextDep, token: Annotated[str, Form(max_length=4096)]) -> Response:
    """RFC 7009: 200 whatever the token."""
    await handlers.sessions.revoke_token(RevokeToken(token=token, ctx=ctx))
    return Response(status_code=200)


@router.post("/forgot-password", status_code=202, responses=errors(422, 429))
async def forgot_password(body: EmailRequest, handlers: HandlersDep, ctx: ContextDep) -> MessageResponse:
    await handlers.forgot_password(ForgotPassword(email=body.email, ctx=ctx))
    return MessageResponse(message="If that address has an account, a reset link is on its way.")


@router.post("/reset-password", responses=errors(400, 422))
async def reset_password(body: ResetPasswordRequest, handlers: HandlersDep, ctx: ContextDep) -> MessageResponse:
    await handlers.reset_password(ResetPassword(token=body.token, new_password=body.new_password.get_secret_value(),
                                                ctx=ctx))
    return MessageResponse(message="Your password has been reset. Please sign in again.")


@router.post("/change-password", responses=errors(400, 401, 422, 429))
async def change_password(body: ChangePasswordRequest, principal: PrincipalDep, handlers: HandlersDep,
                          ctx: ContextDep) -> MessageResponse:
    await handlers.change_password(ChangePassword(
        principal=principal, current_password=body.current_password.get_secret_value(),
        new_password=body.new_password.get_secret_value(), ctx=ctx))
    return MessageResponse(message="Your password has been changed.")


@router.get("/validate-token", responses=errors(401))
async def validate_token(principal: PrincipalDep) -> ValidateTokenResponse:
    return ValidateTokenResponse(claims=principal.claims, expires_at=principal.expires_at)


async def _introspection_client(request: Request, handlers: HandlersDep,
                                basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> None:
    # A dependency, so the caller is checked before the form is: no credentials is 401, never 422.
    await introspection_caller(request, handlers, basic)


@router.post("/introspect", responses=errors(401, 403, 422), dependencies=[Depends(_introspection_client)])
async def introspect(handlers: HandlersDep, token: Annotated[str, Form(max_length=4096)]) -> IntrospectionResponse:
    """RFC 7662, for resource servers: HTTP Basic of a client in INTROSPECTION_CLIENTS, or an admin bearer."""
    return IntrospectionResponse(**await handlers.introspect(token))


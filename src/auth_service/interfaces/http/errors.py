"""The one place that turns errors into the envelope `{"error": {code, message, details, trace_id}}`.
The map is keyed by class, not by code: `invalid_credentials` is 401 at login, 400 elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import fastapi.routing
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth_service.application import errors as app
from auth_service.application.ports import RequestContext
from auth_service.domain import errors as dom

log = structlog.get_logger(__name__)

HTTP_STATUS: dict[type[dom.DomainError], int] = {
    app.BadRequestError: 400,
    app.InvalidOneTimeTokenError: 400,
    app.WrongCurrentPasswordError: 400,
    dom.InvalidVerificationCodeError: 400,
    app.InvalidMfaCodeError: 400,
    app.MfaChallengeFailedError: 401,
    app.UnauthenticatedError: 401,
    app.ClientAuthenticationError: 401,
    app.InvalidCredentialsError: 401,
    app.InvalidTokenError: 401,
    app.TokenExpiredError: 401,
    app.TokenRevokedError: 401,
    app.RefreshTokenReusedError: 401,
    app.ForbiddenError: 403,
    app.EmailNotVerifiedError: 403,
    app.AccountDisabledError: 403,
    app.MfaRequiredError: 403,
    app.NotFoundError: 404,
    dom.EmailTakenError: 409,
    dom.UsernameTakenError: 409,
    dom.ConflictError: 409,
    dom.CompanyNameTakenError: 409,
    dom.CompanyHasUsersError: 409,
    app.LastAdminError: 409,
    dom.VerificationExpiredError: 410,
    dom.FieldValidationError: 422,
    dom.WeakPasswordError: 422,
    dom.BreachedPasswordError: 422,
    app.RateLimitedError: 429,
    app.AccountLockedError: 429,
    app.TooManyAttemptsError: 429,
    app.ServiceUnavailableError: 503,
}

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "bad_request",
               422: "validation_error", 429: "rate_limited", 503: "service_unavailable"}
_HTTP_MESSAGES = {404: "Not found.", 405: "Method not allowed.", 413: "The request body is too large."}


def status_for(exc: dom.DomainError) -> int:
    return next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)


def envelope(code: str, message: str, details: Any, trace_id: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details, "trace_id": trace_id}}


def _trace_id(request: Request) -> str | None:
    return getattr(request.state, "trace_id", None)


def error_response(request: Request, status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(envelope(code, message, details, _trace_id(request)), status_code=status,
                          headers=headers)


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, dom.DomainError)
    status = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, app.RetryLaterError) else None
    if isinstance(exc, app.RateLimitedError) and exc.limit is not None and headers is not None:
        # draft-ietf-httpapi-ratelimit-headers
        headers.update({"RateLimit-Limit": str(exc.limit), "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(exc.retry_after)})
    if isinstance(exc, app.ClientAuthenticationError):
        headers = {"WWW-Authenticate": 'Basic realm="introspection"'}
    principal = getattr(request.state, "principal", None)
    if isinstance(exc, app.ForbiddenError) and principal is not None:
        await _record_forbidden(request, principal)
    return error_response(request, status, exc.code, exc.message, exc.details or None, headers)


async def _record_forbidden(request: Request, principal: Any) -> None:
    ctx = RequestContext(ip=getattr(request.state, "client_ip", None),
                         user_agent=(request.headers.get("user-agent") or "")[:512] or None,
                         trace_id=getattr(request.state, "trace_id", None))
    await request.app.state.container.record_forbidden(principal, request.method, request.url.path, ctx)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo `input`: it may be a password.
    fields = [{"loc": list(error.get("loc", ())), "msg": str(error.get("msg", ""))} for error in exc.errors()]
    return error_response(request, 422, "validation_error", "The request is not valid.", {"fields": fields})


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route that matched the path only (RFC 9110 §10.2.1).
        headers["Allow"] = _allowed_methods(request)
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail) if exc.status_code < 500 else "Internal error.")
    return error_response(request, exc.status_code, code, message, None, headers)


def _allowed_methods(request: Request) -> str:
    """The methods of the resource the path names: the routes of the first matching path template
    (`/users/me`, not `/users/{user_id}` with `me` for an id)."""
    path = request.scope["path"]
    matching = [route for route in _routes(request.app) if getattr(route, "methods", None)
                and getattr(route, "path_regex", None) is not None and route.path_regex.match(path)]
    if not matching:
        return ""
    template = matching[0].path_format
    return ", ".join(sorted({method for route in matching if route.path_format == template
                             for method in route.methods}))


def _routes(app_: FastAPI) -> Iterable[Any]:
    # FastAPI >= 0.13x nests included routers; iter_route_contexts flattens them, as its OpenAPI does.
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return flatten(app_.routes) if flatten is not None else app_.routes


def on_dependency_error(is_unavailable: Callable[[BaseException], bool]) -> Callable[..., Any]:
    """Database and network failures: 503 when a dependency is down, else a logged 500. Any other
    exception is answered 500 by the request-context middleware, which also logs it."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):
            log.warning("dependency_unavailable", error=type(exc).__name__)
            return error_response(request, 503, "service_unavailable", "The service is temporarily unavailable.")
        log.error("unhandled_error", error=type(exc).__name__, exc_info=exc)
        return error_response(request, 500, "internal_error", "An unexpected error occurred.")

    return handler


def install_error_handlers(app_: FastAPI, dependency_errors: tuple[type[Exception], ...],
                           is_unavailable: Callable[[BaseException], bool]) -> None:
    app_.add_exception_handler(dom.DomainError, on_domain_error)
    app_.add_exception_handler(RequestValidationError, on_validation_error)
    app_.add_exception_handler(StarletteHTTPException, on_http_error)
    for error_type in dependency_errors:
        app_.add_exception_handler(error_type, on_dependency_error(is_unavailable))

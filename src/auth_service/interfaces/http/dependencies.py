"""FastAPI dependencies: the container, the caller's principal and the request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from auth_service.application.errors import UnauthenticatedError
from auth_service.application.ports import RequestContext
from auth_service.bootstrap import Container
from auth_service.domain.principal import Principal
from auth_service.interfaces.http.middleware import identify

# Dependencies are async: sync ones would each hop to the thread pool on the hot path.
# OAuth2 password flow rather than plain HTTP bearer in the document, so that Swagger UI's Authorize
# button signs in through /auth/token (SPEC §8). auto_error=False: a missing or malformed header is
# our 401 `unauthenticated` envelope, not FastAPI's.
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False,
                               description="An access token from /api/v1/auth/login or /api/v1/auth/token.")


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


HandlersDep = Annotated[Container, Depends(get_container)]


async def request_context(request: Request) -> RequestContext:
    return RequestContext(ip=getattr(request.state, "client_ip", None),
                          user_agent=(request.headers.get("user-agent") or "")[:512] or None,
                          trace_id=getattr(request.state, "trace_id", None))


ContextDep = Annotated[RequestContext, Depends(request_context)]


async def bearer_token(token: Annotated[str | None, Depends(_bearer)]) -> str:
    # None: no header, or a scheme other than Bearer; "" for "Bearer" and nothing after it.
    if not token or not token.strip():
        raise UnauthenticatedError()
    return token.strip()


async def current_principal(request: Request, handlers: HandlersDep,
                            token: Annotated[str, Depends(bearer_token)]) -> Principal:
    principal = await handlers.authenticate.verified(token)
    identify(request.scope, principal)  # the log lines' user_id, and the audit record of a refused attempt
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]

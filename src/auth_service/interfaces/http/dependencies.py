"""FastAPI dependencies: the container, the caller's principal and the request context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auth_service.application.errors import UnauthenticatedError
from auth_service.application.ports import RequestContext
from auth_service.bootstrap import Container
from auth_service.domain.principal import Principal

# Dependencies are async: sync ones would each hop to the thread pool on the hot path.
# auto_error=False: a missing or malformed header is our 401 `unauthenticated`, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login.")


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


HandlersDep = Annotated[Container, Depends(get_container)]


async def request_context(request: Request) -> RequestContext:
    return RequestContext(ip=getattr(request.state, "client_ip", None),
                          user_agent=(request.headers.get("user-agent") or "")[:512] or None,
                          trace_id=getattr(request.state, "trace_id", None))


ContextDep = Annotated[RequestContext, Depends(request_context)]


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise UnauthenticatedError()
    return credentials.credentials


async def current_principal(handlers: HandlersDep, token: Annotated[str, Depends(bearer_token)]) -> Principal:
    return handlers.authenticate(token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]

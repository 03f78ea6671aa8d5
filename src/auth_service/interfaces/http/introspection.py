"""Who may call /auth/introspect: a client of INTROSPECTION_CLIENTS (HTTP Basic) or an admin."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security import HTTPBasicCredentials

from auth_service.application.errors import ClientAuthenticationError, ForbiddenError
from auth_service.bootstrap import Container


async def introspection_caller(request: Request, handlers: Container, basic: HTTPBasicCredentials | None) -> None:
    if basic is not None:
        expected = handlers.settings.introspection_credentials.get(basic.username)
        # Compare even for an unknown client, so timing does not tell which client ids exist.
        if hmac.compare_digest((expected or "\x00").encode(), basic.password.encode()) and expected:
            return
        raise ClientAuthenticationError("Client authentication failed.")
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ClientAuthenticationError("Client authentication is required.")
    if (await handlers.authenticate.verified(token.strip())).role != "admin":
        raise ForbiddenError("Only introspection clients and admins may introspect tokens.")

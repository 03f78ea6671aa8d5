"""The bearer check as a pure ASGI answer: `GET /api/v1/auth/validate-token` with a good token.

Every other service calls validate-token on every request it serves, so its cost is their latency.
Through FastAPI it pays for route matching over every route of the API and for dependency
injection; both cost more than the check itself (a cached token is a dict lookup). This
middleware answers the one case that matters, a valid token, with the same checks (signature,
claims, revocation, the default rate limit) and the same body as the route. Everything else,
whatever is unusual or wrong, goes on to the route, which answers it (and its errors) as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service.bootstrap import Container
from auth_service.domain.errors import DomainError
from auth_service.interfaces.http.errors import on_domain_error

VALIDATE_TOKEN_PATH = "/api/v1/auth/validate-token"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _RouteLabel:
    """What the metrics middleware reads from scope["route"]: the template of the route answered."""

    path_format = VALIDATE_TOKEN_PATH


_ROUTE = _RouteLabel()


class ValidateTokenFastPath:
    """Install inside RequestContextMiddleware: it needs the client IP and adds the common headers."""

    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != VALIDATE_TOKEN_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        principal: Any = None
        token = _bearer_token(scope["headers"])
        if token is not None:
            try:
                principal = self._container.authenticate(token)
            except DomainError:  # invalid, expired, revoked, an unknown key: the route says which
                principal = None
        if principal is None:
            await self.app(scope, receive, send)
            return
        state = scope.get("state") or {}
        try:
            await self._container.rate_limiter.hit("default", state.get("client_ip"))
        except DomainError as exc:
            response = await on_domain_error(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        scope["route"] = _ROUTE
        # The body of ValidateTokenResponse (a test checks they match), written by orjson directly.
        payload = orjson.dumps({"valid": True, "claims": principal.claims, "expires_at": principal.expires_at},
                               option=orjson.OPT_UTC_Z)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of the one `Authorization: Bearer <token>` header, or None for anything else."""
    found: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            if found is not None:
                return None  # two headers: let the route decide
            found = value
    if found is None:
        return None
    scheme, _, token = found.partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or not token:
        return None
    try:
        return token.decode("ascii")
    except UnicodeDecodeError:
        return None

"""Two hot reads as pure ASGI answers: `GET /api/v1/auth/validate-token` and `GET /api/v1/users/me`
with a good token.

Every other service calls validate-token on every request it serves, so its cost is their latency;
clients read /users/me on every page load. Through FastAPI both pay for route matching over every
route of the API, for dependency injection and for response-model validation; together these cost
more than the work itself (a cached token is a dict lookup, the account one prepared statement).
These middlewares answer the one case that matters, a valid token, with the same checks (signature,
claims, revocation, the default rate limit) and the same body as the routes. Everything else,
whatever is unusual or wrong, goes on to the route, which answers it (and its errors) as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service.application.views import UserView
from auth_service.bootstrap import Container
from auth_service.domain.errors import DomainError
from auth_service.domain.principal import Principal
from auth_service.interfaces.http.errors import on_dependency_error, on_domain_error

VALIDATE_TOKEN_PATH = "/api/v1/auth/validate-token"
ME_PATH = "/api/v1/users/me"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _RouteLabel:
    """What the metrics middleware reads from scope["route"]: the template of the route answered."""

    def __init__(self, path_format: str) -> None:
        self.path_format = path_format


class _BearerFastPath:
    """A `GET <path>` with one valid bearer token, within the default rate limit: `_answer` answers
    it, or returns False to leave it to the route. Install inside RequestContextMiddleware: it needs
    the client IP and adds the common headers."""

    path: str

    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self._container = container
        self._route = _RouteLabel(self.path)

    async def _answer(self, principal: Principal, scope: Scope, receive: Receive, send: Send) -> bool:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
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
        if not await self._answer(principal, scope, receive, send):
            await self.app(scope, receive, send)

    async def _send_json(self, scope: Scope, send: Send, payload: bytes) -> None:
        scope["route"] = self._route
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class ValidateTokenFastPath(_BearerFastPath):
    path = VALIDATE_TOKEN_PATH

    async def _answer(self, principal: Principal, scope: Scope, receive: Receive, send: Send) -> bool:
        # The body of ValidateTokenResponse (a test checks they match), written by orjson directly.
        payload = orjson.dumps({"valid": True, "claims": principal.claims, "expires_at": principal.expires_at},
                               option=orjson.OPT_UTC_Z)
        await self._send_json(scope, send, payload)
        return True


class GetMeFastPath(_BearerFastPath):
    path = ME_PATH

    async def _answer(self, principal: Principal, scope: Scope, receive: Receive, send: Send) -> bool:
        container = self._container
        try:
            view = await container.get_me(principal)
        except DomainError:  # e.g. the account is gone: the route answers it
            return False
        except container.dependency_errors as exc:
            # The database is down: the route would fail the same way, after a second attempt to
            # connect. Answered here by the route's own handler (503 or, for a bug, a logged 500).
            scope["route"] = self._route
            response = await on_dependency_error(container.is_unavailable)(Request(scope, receive), exc)
            await response(scope, receive, send)
            return True
        payload = user_body(view)
        if payload is None:
            return False
        await self._send_json(scope, send, payload)
        return True


def user_body(view: UserView) -> bytes | None:
    """UserResponse as FastAPI serialises it (a test compares the bytes), or None for what orjson
    cannot write the same way (an integer past 64 bits in the profile)."""
    try:
        return orjson.dumps({
            "id": view.id, "email": view.email, "username": view.username, "first_name": view.first_name,
            "last_name": view.last_name, "phone": view.phone, "photo": view.photo, "role": view.role,
            "company_id": view.company_id, "network_id": view.network_id, "station_id": view.station_id,
            "source": view.source, "status": view.status, "is_verified": view.is_verified,
            "is_active": view.is_active, "mfa_enabled": view.mfa_enabled, "profile": view.profile,
            "created_at": view.created_at, "updated_at": view.updated_at, "created_by": view.created_by,
            "updated_by": view.updated_by, "last_login_at": view.last_login_at,
        }, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return None


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

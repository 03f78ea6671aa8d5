"""Hot paths as pure ASGI answers: `GET /api/v1/auth/validate-token` and `GET /api/v1/users/me`
with a good token, `POST /api/v1/auth/login` and `POST /api/v1/auth/refresh` with a well-formed
JSON body.

Every other service calls validate-token on every request it serves, so its cost is their latency;
clients read /users/me on every page load. Through FastAPI both pay for route matching over every
route of the API, for dependency injection and for response-model validation; together these cost
more than the work itself (a cached token is a dict lookup, the account one prepared statement).
These middlewares answer the one case that matters, a valid token, with the same checks (signature,
claims, revocation, the default rate limit) and the same body as the routes. Everything else,
whatever is unusual or wrong, goes on to the route, which answers it (and its errors) as before.

A login costs a password hash, and on two cores every millisecond of the event loop's is taken from
the hashes; a refresh is a few statements and a signature, and FastAPI's routing, dependencies and
body handling cost it another millisecond. LoginFastPath and RefreshFastPath validate the body with
the route's own model and call the same handler, then answer its outcome and its errors as the
route and the app's error handlers do. A body the model refuses (or not sent as `application/json`)
goes on to the route, which answers the 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.application.commands.log_in import LogIn
from auth_service.application.commands.refresh_tokens import RefreshTokens
from auth_service.application.commands.verify_mfa import ChallengeIssued
from auth_service.application.ports import IssuedTokens, RequestContext
from auth_service.application.views import UserView
from auth_service.bootstrap import Container
from auth_service.domain.errors import DomainError
from auth_service.domain.principal import Principal
from auth_service.interfaces.http.dependencies import request_context
from auth_service.interfaces.http.errors import on_dependency_error, on_domain_error
from auth_service.interfaces.http.mfa_schemas import MfaChallengeResponse
from auth_service.interfaces.http.middleware import identify
from auth_service.interfaces.http.schemas import LoginRequest, RefreshRequest, TokenPairResponse

VALIDATE_TOKEN_PATH = "/api/v1/auth/validate-token"
ME_PATH = "/api/v1/users/me"
LOGIN_PATH = "/api/v1/auth/login"
REFRESH_PATH = "/api/v1/auth/refresh"
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
        identify(scope, principal)
        state = scope["state"]
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


class _JsonBodyFastPath:
    """`POST <path>` with a JSON body the route's model (`form`) accepts: `_answer` runs the route's
    handler and returns the route's body; its errors are answered by the app's own handlers. Install
    inside RequestContextMiddleware (the client IP, the trace id, the common headers) and
    BodySizeLimitMiddleware (which refuses a body too big while it is read here)."""

    path: str
    form: type[BaseModel]

    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self._container = container
        self._route = _RouteLabel(self.path)

    async def _answer(self, form: Any, ctx: RequestContext) -> bytes:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST"
                or _header(scope["headers"], b"content-type") != b"application/json"):
            await self.app(scope, receive, send)
            return
        body, gone = await _read_body(receive)
        if gone:  # the client went away while sending: nothing to answer
            return
        try:
            form = self.form.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)  # the route answers the 422
            return
        scope["route"] = self._route
        container = self._container
        ctx = await request_context(Request(scope, receive))  # the route's own dependency
        try:
            await container.rate_limiter.hit("default", ctx.ip)  # the API router's dependency
            payload = await self._answer(form, ctx)
        except DomainError as exc:
            response = await on_domain_error(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        except container.dependency_errors as exc:
            response = await on_dependency_error(container.is_unavailable)(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class LoginFastPath(_JsonBodyFastPath):
    path, form = LOGIN_PATH, LoginRequest

    async def _answer(self, form: LoginRequest, ctx: RequestContext) -> bytes:
        container = self._container
        outcome = await container.log_in(LogIn(email=form.email, password=form.password.get_secret_value(), ctx=ctx))
        return tokens_body(outcome, container.clock.now())


class RefreshFastPath(_JsonBodyFastPath):
    path, form = REFRESH_PATH, RefreshRequest

    async def _answer(self, form: RefreshRequest, ctx: RequestContext) -> bytes:
        container = self._container
        tokens = await container.refresh_tokens(RefreshTokens(refresh_token=form.refresh_token, ctx=ctx))
        return tokens_body(tokens, container.clock.now())


def tokens_body(outcome: IssuedTokens | ChallengeIssued, now: datetime) -> bytes:
    """The body of the login and refresh routes: their response models, serialised by pydantic as
    FastAPI does."""
    if isinstance(outcome, ChallengeIssued):
        challenge = MfaChallengeResponse(mfa_token=outcome.mfa_token, expires_in=outcome.expires_in)
        return challenge.__pydantic_serializer__.to_json(challenge)
    tokens = TokenPairResponse.of(outcome, now)
    return tokens.__pydantic_serializer__.to_json(tokens)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether the client disconnected before its end."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the body read here to the route, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


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

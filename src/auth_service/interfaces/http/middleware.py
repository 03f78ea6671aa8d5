"""Pure ASGI middleware: trace id, client IP, security headers, access log, metrics, body limit.

Pure ASGI rather than BaseHTTPMiddleware, which buffers streamed responses and runs the app
in another task (losing context variables bound there).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.bootstrap import request_log_fields
from auth_service.domain.principal import Principal
from auth_service.interfaces.http.client_ip import ClientIpResolver

MAX_BODY_BYTES = 1_048_576
UNMATCHED_ROUTE = "unmatched"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_API_PREFIX = "/api/v1"
_CLIENT_CLOSED_REQUEST = 499  # nginx's convention: the client went away before any response

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class RequestMetrics(Protocol):
    """Where the middleware records each request (the Prometheus adapter, or any object with `observe`)."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None: ...


class AccessLogWriter(Protocol):
    """Writes the `http_request` line (the logging adapter's AccessLog, or structlog by default)."""

    def __call__(self, level: int, **fields: Any) -> None: ...


def identify(scope: Scope, principal: Principal) -> None:
    """The request is the principal's: its access line and every line logged from now on carry its
    user_id."""
    scope.setdefault("state", {})["principal"] = principal
    fields = request_log_fields.get()
    if fields is not None:  # the request's own dict, set by RequestContextMiddleware
        fields["user_id"] = principal.user_id


class PayloadTooLarge(HTTPException):
    """The request body grew past the limit while the app was reading it (413 `payload_too_large`).

    An HTTPException so that FastAPI's body parsing lets it through instead of turning it
    into a 400; map it to the error envelope by class.
    """

    code = "payload_too_large"
    message = "The request body is too large."

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=self.message)


class RequestContextMiddleware:
    """Gives every HTTP request a trace id and a client IP, and every response its common headers.

    Puts `trace_id` and `client_ip` in `request.state` and in the fields of every line logged while
    the request runs (with `user_id`, null until `identify` names the caller), answers with
    `X-Request-ID`, `X-Content-Type-Options: nosniff` (and `Cache-Control: no-store` under /api/v1),
    writes one `http_request` log line (those fields, the status and the duration) and records the
    request's metrics.
    An exception escaping the app before it answered is answered here, by `error_handler`
    (which then logs it) or else as a logged 500 `internal_error` envelope, so that even that
    response carries the headers above: Starlette's own handler for `Exception` runs
    outside every middleware.
    """

    def __init__(
        self,
        app: ASGIApp,
        ip_resolver: ClientIpResolver,
        metrics: RequestMetrics | None = None,
        error_handler: ErrorHandler | None = None,
        access_log: AccessLogWriter | None = None,
    ) -> None:
        self.app = app
        self._ip_resolver = ip_resolver
        self._metrics = metrics
        self._error_handler = error_handler
        self._log = structlog.stdlib.get_logger("auth_service.http")
        self._access_log = access_log or self._structlog_access_line

    def _structlog_access_line(self, level: int, **fields: Any) -> None:
        self._log.log(level, "http_request", **fields)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        request_id: str | None = None
        forwarded_for: list[str] = []
        for name, value in scope["headers"]:  # two headers wanted: no Headers object per request
            if name == b"x-request-id":
                if request_id is None:
                    request_id = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
        trace_id = _trace_id(request_id)
        client = scope.get("client")
        client_ip = self._ip_resolver.resolve(client[0] if client else None, ", ".join(forwarded_for) or None)
        state = scope.setdefault("state", {})
        state["trace_id"], state["client_ip"] = trace_id, client_ip
        method, path = scope["method"], scope["path"]  # never the query string: it may hold a token
        root_path = scope.get("root_path", "")
        no_store = path == _API_PREFIX or path.startswith(_API_PREFIX + "/")
        status: int | None = None

        common_headers = [(b"x-request-id", trace_id.encode("latin-1")), *(_NO_STORE if no_store else _NOSNIFF)]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _with_headers(message.get("headers") or (), common_headers)
            await send(message)

        # For every line logged while the request runs (user_id: set by `identify` once a bearer token
        # names the caller); reset when it ends, so that nothing outlives the request even where a
        # caller runs the app in its own task (a test client).
        fields: dict[str, Any] = {"trace_id": trace_id, "user_id": None, "ip": client_ip, "method": method,
                                  "path": path}
        bound = request_log_fields.set(fields)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if status is not None:
                self._log.exception("unhandled_error")
                raise  # mid-response: only dropping the connection tells the client it failed
            await self._answer_error(exc, scope, receive, send_with_headers, trace_id)
        finally:
            final_status = status if status is not None else _CLIENT_CLOSED_REQUEST
            duration = time.perf_counter() - started_at
            self._access_log(logging.ERROR if final_status >= 500 else logging.INFO, **fields, status=final_status,
                             duration_ms=round(duration * 1000, 2))
            if self._metrics is not None:
                self._metrics.observe(method, _route_label(scope, root_path), final_status, duration)
            request_log_fields.reset(bound)

    async def _answer_error(self, exc: Exception, scope: Scope, receive: Receive, send: Send,
                            trace_id: str) -> None:
        if self._error_handler is not None:
            try:
                response = await self._error_handler(Request(scope, receive), exc)
            except Exception:
                self._log.exception("error_handler_failed")
            else:
                await response(scope, receive, send)
                return
        self._log.error("unhandled_error", exc_info=exc)
        await _send_error(scope, receive, send, 500, "internal_error", "An unexpected error occurred.",
                          trace_id)


class BodySizeLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413 `payload_too_large`, declared or streamed.

    Install it inside RequestContextMiddleware, so the envelope carries the trace id.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_payload_too_large(scope, receive, send)
            return
        if scope["method"] in _NO_BODY_READ:  # no route here reads the body of these: nothing to watch
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if received > self.max_bytes:
                raise PayloadTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge:
            if started:
                raise
            await _send_payload_too_large(scope, receive, send)


_NO_BODY_READ = frozenset({"GET", "HEAD"})
_NOSNIFF = ((b"x-content-type-options", b"nosniff"),)
_NO_STORE = (*_NOSNIFF, (b"cache-control", b"no-store"))


def _with_headers(headers: Any, ours: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers with ours set (replacing any of the same name, as MutableHeaders would)."""
    names = {name for name, _ in ours}
    kept = [(name, value) for name, value in headers if name.lower() not in names]
    kept.extend(ours)
    return kept


def _trace_id(candidate: str | None) -> str:
    if candidate is not None and _REQUEST_ID.fullmatch(candidate):
        return candidate
    # 32 hex characters, as uuid4().hex. A trace id must be unique, not secret: the process's
    # Mersenne Twister (seeded from os.urandom, reseeded in forked children) costs no system call,
    # where secrets/uuid4 make one per request.
    return f"{random.getrandbits(128):032x}"


def _route_label(scope: Scope, root_path_before: str) -> str:
    """The matched route's template with its full prefix, or "unmatched"; bounded cardinality."""
    route: Any = scope.get("route") or _plain_route(scope)
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE
    if isinstance(route, Mount) and route.routes:
        return UNMATCHED_ROUTE  # a mounted router that found nothing inside it
    # FastAPI >= 0.16x no longer copies included routes: scope["route"] is the route as
    # declared, without the prefixes of include_router(); the prefixed template lives in its
    # "effective route context", which FastAPI's own APIRoute reads the same way.
    fastapi_scope = scope.get("fastapi")
    effective = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    if effective is not None and getattr(effective, "original_route", None) is route:
        full = getattr(effective, "path_format", None)
        if isinstance(full, str) and full:
            template = full
    # Routes of a mounted app are relative to the mount: Starlette records the matched
    # prefix by extending root_path on this same scope.
    mount_prefix = scope.get("root_path", "")[len(root_path_before):]
    return f"{mount_prefix}{template}"


def _plain_route(scope: Scope) -> Route | None:
    # FastAPI's router records scope["route"] for its own routes only, not for a Starlette
    # Route added with app.add_route(); find that one again (a rare path: no route recorded).
    for candidate in getattr(scope.get("router"), "routes", ()):
        if isinstance(candidate, Route) and candidate.matches(scope)[0] is not Match.NONE:
            return candidate
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() else None
    return None


async def _send_payload_too_large(scope: Scope, receive: Receive, send: Send) -> None:
    state = scope.get("state")
    trace_id = state.get("trace_id") if isinstance(state, dict) else None
    # Close the connection: the client may still be sending the body we refuse to read.
    await _send_error(scope, receive, send, 413, PayloadTooLarge.code, PayloadTooLarge.message, trace_id,
                      headers={"Connection": "close"})


async def _send_error(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                      trace_id: str | None, headers: dict[str, str] | None = None) -> None:
    body = {"error": {"code": code, "message": message, "details": None, "trace_id": trace_id}}
    response = JSONResponse(body, status_code=status, headers=headers)
    await response(scope, receive, send)

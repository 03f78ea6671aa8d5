from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from auth_service.application.ports import Metrics
from auth_service.domain.principal import Principal
from auth_service.infrastructure.logging import configure_logging, request_log_fields
from auth_service.infrastructure.metrics import PrometheusMetrics as HttpMetrics
from auth_service.interfaces.http.client_ip import ClientIpResolver
from auth_service.interfaces.http.middleware import (
    BodySizeLimitMiddleware,
    ErrorHandler,
    PayloadTooLarge,
    RequestContextMiddleware,
    identify,
)

MIB = 1_048_576
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJVU1ItMSJ9.c2lnbmF0dXJl"
PRINCIPAL = Principal(user_id="USR-7", subject="USR-7", session_id="SES-1", email="ada@example.com",
                      email_verified=True, role="user", company_id=None, network_id="", station_id="",
                      expires_at=datetime(2030, 1, 1, tzinfo=UTC), claims={})


def build_app(
    metrics: HttpMetrics, trusted_proxies: list[str] | None = None, error_handler: ErrorHandler | None = None
) -> FastAPI:
    app = FastAPI()
    api = APIRouter(prefix="/api/v1")

    @api.get("/users/{user_id}")
    async def get_user(user_id: str, request: Request) -> dict[str, Any]:
        structlog.get_logger("test").info("inside_route", user_id=user_id)
        logging.getLogger("uvicorn.error").warning("a stdlib line")
        return {"trace_id": request.state.trace_id, "client_ip": request.state.client_ip}

    @api.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        structlog.get_logger("test").info("before_identify")
        identify(request.scope, PRINCIPAL)
        structlog.get_logger("test").info("after_identify")
        return {"id": PRINCIPAL.user_id}

    @api.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @api.post("/json")
    async def json_body(payload: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(payload)}

    @api.get("/cached")
    async def cached() -> JSONResponse:
        return JSONResponse({}, headers={"Cache-Control": "max-age=300"})

    @api.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        return JSONResponse({"keys": []}, headers={"Cache-Control": "max-age=300"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    async def on_payload_too_large(request: Request, exc: Exception) -> JSONResponse:
        # What the lead's errors.py does: map the class to the envelope.
        body = {"error": {"code": "payload_too_large", "message": "x", "details": None,
                          "trace_id": request.state.trace_id}}
        return JSONResponse(body, status_code=413)

    # The way the service mounts its routers: the /api/v1 prefix comes from include_router.
    auth = APIRouter(prefix="/auth")

    @auth.get("/sessions/{session_id}")
    async def get_session(session_id: str) -> dict[str, str]:
        return {"id": session_id}

    app.add_exception_handler(PayloadTooLarge, on_payload_too_large)
    app.include_router(api)
    app.include_router(auth, prefix="/api/v1")
    app.add_route("/plain/{name}", _plain_ok)
    app.mount("/sub", Router(routes=[Route("/items/{item_id}", _plain_ok)]))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MIB)
    app.add_middleware(
        RequestContextMiddleware,
        ip_resolver=ClientIpResolver(trusted_proxies or []),
        metrics=metrics,
        error_handler=error_handler,
    )
    return app


async def _plain_ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@pytest.fixture
def metrics() -> HttpMetrics:
    return HttpMetrics()


@pytest.fixture
async def client(metrics: HttpMetrics) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("info", "json")
    capsys.readouterr()
    yield capsys
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def sample(metrics: HttpMetrics, name: str, **labels: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(name, labels)
    return value


# -- trace id ------------------------------------------------------------------------------------


async def test_a_well_formed_request_id_is_echoed_and_is_the_trace_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/USR-1", headers={"X-Request-ID": "abc.DEF_123-x"})

    assert response.headers["x-request-id"] == "abc.DEF_123-x"
    assert response.json()["trace_id"] == "abc.DEF_123-x"


@pytest.mark.parametrize("sent", [None, "a" * 129, "has spaces", "semi;colon", ""])
async def test_a_missing_or_malformed_request_id_is_replaced(
    client: httpx.AsyncClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}

    response = await client.get("/api/v1/users/USR-1", headers=headers)

    generated = response.headers["x-request-id"]
    assert generated != sent
    assert len(generated) == 32 and generated.isalnum()
    assert response.json()["trace_id"] == generated


async def test_a_request_id_of_128_characters_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/USR-1", headers={"X-Request-ID": "a" * 128})

    assert response.headers["x-request-id"] == "a" * 128


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/users/USR-1", "/.well-known/jwks.json", "/nowhere", "/boom"])
async def test_every_response_is_nosniff(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in response.headers


async def test_api_responses_are_no_store_even_when_the_route_says_otherwise(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/cached")

    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_non_api_responses_keep_their_own_cache_control(client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    not_found = await client.get("/nowhere")

    assert jwks.headers["cache-control"] == "max-age=300"
    assert "cache-control" not in not_found.headers


async def test_streamed_responses_get_the_headers_and_their_whole_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/stream")

    assert response.text == "chunk0;chunk1;chunk2;"
    assert response.headers["cache-control"] == "no-store"
    assert "x-request-id" in response.headers


async def test_an_unhandled_error_is_a_500_envelope_with_the_trace_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})

    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "An unexpected error occurred.",
                                         "details": None, "trace_id": "trace-500"}}
    assert response.headers["x-request-id"] == "trace-500"


async def test_an_error_handler_answers_unhandled_errors_with_the_headers(metrics: HttpMetrics) -> None:
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        body = {"error": {"code": "service_unavailable", "trace_id": request.state.trace_id}}
        return JSONResponse(body, status_code=503)

    transport = httpx.ASGITransport(app=build_app(metrics, error_handler=unavailable))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-503"})

    assert response.status_code == 503
    assert response.json()["error"] == {"code": "service_unavailable", "trace_id": "trace-503"}
    assert response.headers["x-request-id"] == "trace-503"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_failing_error_handler_still_gives_the_500_envelope(metrics: HttpMetrics) -> None:
    async def broken(request: Request, exc: Exception) -> JSONResponse:
        raise ValueError("handler bug")

    transport = httpx.ASGITransport(app=build_app(metrics, error_handler=broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


# -- client ip -----------------------------------------------------------------------------------


async def test_the_client_ip_comes_from_a_trusted_proxy_header(metrics: HttpMetrics) -> None:
    app = build_app(metrics, trusted_proxies=["10.0.0.0/8"])
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        forwarded = {"X-Forwarded-For": "1.1.1.1, 198.51.100.4"}
        response = await client.get("/api/v1/users/USR-1", headers=forwarded)

    assert response.json()["client_ip"] == "198.51.100.4"


async def test_an_untrusted_peer_cannot_claim_another_address(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/USR-1", headers={"X-Forwarded-For": "198.51.100.4"})

    assert response.json()["client_ip"] == "127.0.0.1"


# -- body size -----------------------------------------------------------------------------------


async def test_a_declared_body_over_one_mib_is_refused_with_the_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/echo", content=b"x" * (MIB + 1), headers={"X-Request-ID": "big-1"})

    assert response.status_code == 413
    assert response.json() == {"error": {"code": "payload_too_large", "details": None, "trace_id": "big-1",
                                         "message": "The request body is too large."}}
    assert response.headers["x-request-id"] == "big-1"


async def test_a_body_of_exactly_one_mib_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/echo", content=b"x" * MIB)

    assert response.status_code == 200
    assert response.json() == {"size": MIB}


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"x" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


async def test_a_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/echo", content=_chunks(MIB + 10), headers={"X-Request-ID": "big-2"})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["trace_id"] == "big-2"


async def test_a_chunked_json_body_over_the_limit_is_413_not_400(client: httpx.AsyncClient) -> None:
    # FastAPI turns errors while reading a body into 400 unless they are HTTPExceptions.
    response = await client.post(
        "/api/v1/json", content=_chunks(MIB + 10), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_chunked_body_under_the_limit_streams_through(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/echo", content=_chunks(MIB))

    assert response.json() == {"size": MIB}


async def test_an_overflow_no_handler_caught_is_answered_by_the_middleware() -> None:
    async def reads_everything(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body", False):
            pass

    app = BodySizeLimitMiddleware(reads_everything, max_bytes=10)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/", content=_chunks(11, size=4))

    assert response.status_code == 413
    assert response.json()["error"] == {"code": "payload_too_large", "details": None, "trace_id": None,
                                        "message": "The request body is too large."}


# -- metrics -------------------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, metrics: HttpMetrics
) -> None:
    await client.get("/api/v1/users/USR-1")
    await client.get("/api/v1/users/USR-2")
    await client.get("/nowhere/USR-3")

    template = "/api/v1/users/{user_id}"
    found = sample(metrics, "http_requests_total", method="GET", route=template, status="200")
    unmatched = sample(metrics, "http_requests_total", method="GET", route="unmatched", status="404")
    durations = sample(metrics, "http_request_duration_seconds_count",
                       method="GET", route=template, status="200")
    assert (found, unmatched, durations) == (2.0, 1.0, 2.0)
    assert b"USR-1" not in metrics.render()[0]


async def test_the_prefix_given_to_include_router_is_part_of_the_label(
    client: httpx.AsyncClient, metrics: HttpMetrics
) -> None:
    await client.get("/api/v1/auth/sessions/SES-1")
    await client.post("/api/v1/auth/sessions/SES-1")

    template = "/api/v1/auth/sessions/{session_id}"
    assert sample(metrics, "http_requests_total", method="GET", route=template, status="200") == 1.0
    assert sample(metrics, "http_requests_total", method="POST", route=template, status="405") == 1.0


async def test_plain_starlette_routes_are_labelled_with_their_template(
    client: httpx.AsyncClient, metrics: HttpMetrics
) -> None:
    await client.get("/plain/x")

    assert sample(metrics, "http_requests_total", method="GET", route="/plain/{name}", status="200") == 1.0


async def test_routes_of_a_mounted_router_are_labelled_with_the_mount_prefix(
    client: httpx.AsyncClient, metrics: HttpMetrics
) -> None:
    await client.get("/sub/items/42")
    await client.get("/sub/missing")

    template = "/sub/items/{item_id}"
    assert sample(metrics, "http_requests_total", method="GET", route=template, status="200") == 1.0
    assert sample(metrics, "http_requests_total", method="GET", route="unmatched", status="404") == 1.0


async def test_wrong_methods_and_errors_are_labelled_with_their_status(
    client: httpx.AsyncClient, metrics: HttpMetrics
) -> None:
    await client.delete("/api/v1/users/USR-1")
    await client.get("/boom")
    await client.post("/api/v1/echo", content=b"x" * (MIB + 1))

    assert sample(metrics, "http_requests_total", method="DELETE", route="/api/v1/users/{user_id}",
                  status="405") == 1.0
    assert sample(metrics, "http_requests_total", method="GET", route="/boom", status="500") == 1.0
    assert sample(metrics, "http_requests_total", method="POST", route="unmatched", status="413") == 1.0


def test_the_auth_metrics_are_exposed_in_prometheus_text() -> None:
    metrics = HttpMetrics()
    metrics.login("success")
    metrics.token_issued()
    metrics.refresh_reuse()
    metrics.rate_limited()
    metrics.set_active_sessions(3)

    payload, content_type = metrics.render()

    text = payload.decode()
    assert content_type.startswith("text/plain")
    for line in ('auth_logins_total{outcome="success"} 1.0', "auth_tokens_issued_total 1.0",
                 "auth_refresh_reuse_total 1.0", "auth_rate_limited_total 1.0", "auth_active_sessions 3.0"):
        assert line in text


def test_it_satisfies_the_application_metrics_port() -> None:
    port: Metrics = HttpMetrics()

    port.login("failure")


def test_two_metric_sets_do_not_share_counts() -> None:
    first, second = HttpMetrics(), HttpMetrics()

    first.observe("GET", "/health", 200, 0.01)

    assert sample(second, "http_requests_total", method="GET", route="/health", status="200") is None


def test_made_up_methods_share_one_label() -> None:
    metrics = HttpMetrics()

    metrics.observe("FROBNICATE", "unmatched", 405, 0.001)

    assert sample(metrics, "http_requests_total", method="OTHER", route="unmatched", status="405") == 1.0


# -- logs ----------------------------------------------------------------------------------------


async def test_the_access_line_is_json_with_the_trace_id_and_no_query_string(
    client: httpx.AsyncClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    response = await client.get("/api/v1/users/USR-1?token=s3cr3t-query", headers={"X-Request-ID": "trace-1"})

    out = log_lines(json_logs)
    access = next(line for line in out if line["event"] == "http_request")
    assert response.status_code == 200
    assert access["trace_id"] == "trace-1"
    assert access["path"] == "/api/v1/users/USR-1"
    assert (access["method"], access["status"], access["ip"]) == ("GET", 200, "127.0.0.1")
    assert access["level"] == "info" and access["user_id"] is None  # no caller named
    assert isinstance(access["duration_ms"], float)
    assert access["timestamp"].endswith("Z")
    assert list(access)[:3] == ["timestamp", "level", "event"]
    assert all("s3cr3t-query" not in json.dumps(line) for line in out)


async def test_every_line_of_a_request_carries_its_trace_id_even_stdlib_ones(
    client: httpx.AsyncClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    await client.get("/api/v1/users/USR-1", headers={"X-Request-ID": "trace-2"})

    out = log_lines(json_logs)
    events = {line["event"]: line for line in out}
    assert events["inside_route"]["trace_id"] == "trace-2"
    assert events["a stdlib line"]["trace_id"] == "trace-2"
    assert events["a stdlib line"]["level"] == "warning"
    assert structlog.contextvars.get_contextvars() == {} and request_log_fields.get() is None


async def test_once_the_caller_is_named_its_lines_and_the_access_line_carry_its_user_id(
    client: httpx.AsyncClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    await client.get("/api/v1/whoami")

    events = {line["event"]: line for line in log_lines(json_logs)}
    assert events["before_identify"]["user_id"] is None
    assert events["after_identify"]["user_id"] == "USR-7"
    assert events["http_request"]["user_id"] == "USR-7"
    # Nothing outlives the request.
    assert structlog.contextvars.get_contextvars() == {} and request_log_fields.get() is None


async def test_an_unhandled_error_is_logged_once_with_its_trace_id(
    client: httpx.AsyncClient, json_logs: pytest.CaptureFixture[str]
) -> None:
    await client.get("/boom", headers={"X-Request-ID": "trace-3"})

    out = log_lines(json_logs)
    error = next(line for line in out if line["event"] == "unhandled_error")
    access = next(line for line in out if line["event"] == "http_request")
    assert error["trace_id"] == "trace-3" and "RuntimeError" in error["exception"]
    assert (access["status"], access["level"]) == (500, "error")


def test_sensitive_keys_are_redacted_at_any_depth(json_logs: pytest.CaptureFixture[str]) -> None:
    log = structlog.get_logger("test")

    log.info("login_failed", password="hunter2", details={"refresh_token": "abc", "reason": "x"},
             status_code=401, error_code="invalid_credentials", Authorization="Bearer xyz")
    logging.getLogger("test.stdlib").info("header was Bearer %s", JWT)

    first, second = log_lines(json_logs)
    assert first["password"] == "[redacted]"
    assert first["Authorization"] == "[redacted]"
    assert first["details"] == {"refresh_token": "[redacted]", "reason": "x"}
    assert (first["status_code"], first["error_code"]) == (401, "invalid_credentials")
    assert JWT not in second["event"]


def test_configuring_twice_writes_each_line_once(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    configure_logging("warning", "json")

    structlog.get_logger("test").warning("once")
    structlog.get_logger("test").info("filtered out")

    assert [line["event"] for line in log_lines(json_logs)] == ["once"]


def test_the_console_format_is_human_readable(json_logs: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "console")

    structlog.get_logger("test").info("hello", password="hunter2")

    out = json_logs.readouterr().out
    assert "hello" in out and "hunter2" not in out
    assert not out.lstrip().startswith("{")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        configure_logging("loud", "json")

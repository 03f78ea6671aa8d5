"""Hostile and broken requests (SPEC §2 Conventions and Errors): each is answered in the error
envelope with a 4xx, never a 500, never echoing what was sent, and with the common headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from auth_service.application.commands.create_admin import CreateAdmin
from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, login, signed_in

MAX_BODY = 1024 * 1024
SECRET = "s3cret-value-that-must-never-come-back"
GENERATED_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
LOGIN = f"{API}/auth/login"


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "trace_id"}
    assert error["trace_id"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    return error


@pytest.fixture
async def user(client: httpx.AsyncClient, mailbox: Mailbox) -> dict[str, Any]:
    return await signed_in(client, mailbox, "ada@example.com")


@pytest.fixture
async def admin(client: httpx.AsyncClient, container: Container) -> dict[str, Any]:
    await container.create_admin(CreateAdmin(email="root@example.com", password=PASSWORD))
    return await login(client, "root@example.com")


def _json_body_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), re.sub(r"\{[^}]+\}", "XYZ-0000000000000000", path))
            for path, operations in openapi["paths"].items() if path.startswith(API)
            for method, operation in operations.items()
            if "application/json" in operation.get("requestBody", {}).get("content", {})]


async def test_every_json_body_endpoint_refuses_an_unknown_field_without_echoing_it(
        client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    operations = _json_body_operations((await client.get("/api-docs/openapi.json")).json())
    assert len(operations) >= 10

    responses = {f"{method} {path}": await client.request(method, path, headers=bearer(admin["access_token"]),
                                                          json={"zzz_unexpected": SECRET})
                 for method, path in operations}

    for operation, response in responses.items():
        error = assert_error(response, 422, "validation_error")
        assert {"loc": ["body", "zzz_unexpected"], "msg": "Extra inputs are not permitted"} in \
            error["details"]["fields"], operation
        assert SECRET not in response.text, operation


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/auth/register", {"email": "bob@example.com", "password": PASSWORD, "role": "admin"}),
    ("POST", "/auth/register", {"email": "bob@example.com", "password": PASSWORD, "is_verified": True}),
    ("POST", "/auth/login", {"email": "ada@example.com", "password": PASSWORD, "remember_me": True}),
    ("POST", "/auth/forgot-password", {"email": "ada@example.com", "status": "active"}),
    ("PATCH", "/users/me", {"first_name": "Ada", "role": "admin"}),
    ("PATCH", "/users/me", {"first_name": "Ada", "company_id": "CMP-0000000000000000"}),
    ("POST", "/auth/change-password", {"current_password": PASSWORD, "new_password": PASSWORD + "!",
                                       "status": "active"}),
])
async def test_a_valid_body_with_one_field_too_many_changes_nothing(
        client: httpx.AsyncClient, user: dict[str, Any], method: str, path: str, body: dict[str, Any]) -> None:
    response = await client.request(method, f"{API}{path}", headers=bearer(user["access_token"]), json=body)

    assert_error(response, 422, "validation_error")
    assert PASSWORD not in response.text
    me = (await client.get(f"{API}/users/me", headers=bearer(user["access_token"]))).json()
    assert (me["role"], me["first_name"], me["company_id"]) == ("user", None, None)
    assert (await client.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD})).status_code == 200


@pytest.mark.parametrize(("content", "content_type"), [
    (b'{"email": "ada@example.com", "password": ', "application/json"),
    (b"not json at all", "application/json"),
    (b"", "application/json"),
    (b"[]", "application/json"),
    (b'"a string"', "application/json"),
    (b"42", "application/json"),
    (b"null", "application/json"),
    (b'{"email": 42, "password": ["' + SECRET.encode() + b'"]}', "application/json"),
    (b'{"email": "ada@example.com"}', "application/json"),
    (b'{"email": "' + SECRET.encode() + b'", "password": "x"}', "application/json"),
    (b'{"email": "ada@example.com", "password": "' + b"p" * 2000 + b'"}', "application/json"),
    (b'{"email": "ada@example.com", "password": "x"}', "text/plain"),
    (b"email=ada%40example.com&password=x", "application/x-www-form-urlencoded"),
], ids=["truncated", "not json", "empty", "array", "string", "number", "null", "wrong types",
        "missing field", "bad email", "over-long password", "text/plain", "form"])
async def test_a_malformed_json_body_is_a_validation_error(
        client: httpx.AsyncClient, content: bytes, content_type: str) -> None:
    response = await client.post(LOGIN, content=content, headers={"Content-Type": content_type})

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"]
    assert all(set(field) == {"loc", "msg"} for field in error["details"]["fields"])
    assert SECRET not in response.text and "ppppp" not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_a_request_without_a_body_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN)

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == [{"loc": ["body"], "msg": "Field required"}]


@pytest.mark.parametrize("content", [
    b'{"email": "\xff\xfe@example.com", "password": "x"}',
    b"[" * 100_000 + b"]" * 100_000,
], ids=["invalid UTF-8", "nested 100 000 deep"])
async def test_a_body_that_cannot_be_parsed_is_a_bad_request(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(LOGIN, content=content, headers={"Content-Type": "application/json"})

    assert_error(response, 400, "bad_request")


async def test_a_body_over_one_mebibyte_is_too_large(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b" " * (MAX_BODY + 1), headers={"Content-Type": "application/json"})

    assert_error(response, 413, "payload_too_large")
    assert response.headers["cache-control"] == "no-store"


async def test_a_body_of_exactly_one_mebibyte_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b" " * MAX_BODY, headers={"Content-Type": "application/json"})

    assert_error(response, 422, "validation_error")


async def test_a_streamed_body_without_a_length_is_cut_off_past_one_mebibyte(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    response = await client.post(LOGIN, content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


async def test_a_huge_declared_content_length_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b"{}", headers={"Content-Type": "application/json",
                                                                "Content-Length": str(10**12)})

    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", [f"{API}/nothing-here", f"{API}/users/me/nothing", "/nothing-here",
                                  "/api/v2/auth/login"])
async def test_an_unknown_route_is_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", LOGIN), ("PUT", f"{API}/auth/register"),
                                              ("POST", f"{API}/auth/validate-token"), ("DELETE", "/health")])
async def test_a_wrong_method_is_not_allowed(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"]


async def test_a_valid_client_request_id_is_echoed_in_the_header_and_the_error(client: httpx.AsyncClient) -> None:
    request_id = "client-Trace_42." + "x" * 112

    response = await client.get(f"{API}/users/me", headers={"X-Request-ID": request_id})

    assert len(request_id) == 128
    assert response.headers["x-request-id"] == request_id
    assert assert_error(response, 401, "unauthenticated")["trace_id"] == request_id


@pytest.mark.parametrize("request_id", ["has space", "x" * 129, "", "naïve", "a/b", "<script>"])
async def test_an_invalid_client_request_id_is_replaced(client: httpx.AsyncClient, request_id: str) -> None:
    response = await client.get(f"{API}/users/me", headers={"X-Request-ID": request_id.encode()})

    replaced = response.headers["x-request-id"]
    assert replaced != request_id and GENERATED_ID.fullmatch(replaced)
    assert assert_error(response, 401, "unauthenticated")["trace_id"] == replaced


async def test_api_responses_are_never_stored_and_no_response_is_sniffed(
        client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    api = [await client.get(f"{API}/auth/validate-token", headers=bearer(user["access_token"])),
           await client.get(f"{API}/users/me"),
           await client.get(f"{API}/nothing-here"),
           await client.post(f"{API}/auth/token", data={"grant_type": "password", "username": "ada@example.com",
                                                         "password": PASSWORD})]
    other = [await client.get(path) for path in ("/health", "/health/ready", "/.well-known/jwks.json",
                                                 "/.well-known/openid-configuration", "/api-docs/openapi.json",
                                                 "/metrics", "/nothing-here")]

    assert [r.status_code for r in api] == [200, 401, 404, 200]
    assert all(r.headers["cache-control"] == "no-store" for r in api)
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in api + other)
    assert all(r.headers.get("x-request-id") for r in api + other)


async def test_the_form_endpoints_ignore_unknown_parameters(client: httpx.AsyncClient, user: dict[str, Any]) -> None:
    token = await client.post(f"{API}/auth/token", data={
        "grant_type": "password", "username": "ada@example.com", "password": PASSWORD, "scope": "openid profile",
        "client_id": "swagger", "client_secret": "ignored", "role": "admin"})
    introspected = await client.post(f"{API}/auth/introspect", auth=("resource-server", "rs-secret"), data={
        "token": user["access_token"], "token_type_hint": "access_token", "role": "admin"})
    revoked = await client.post(f"{API}/auth/revoke", data={
        "token": user["refresh_token"], "token_type_hint": "refresh_token", "client_id": "x", "role": "admin"})

    assert token.status_code == 200, token.text
    assert token.json()["user"]["role"] == "user"
    assert introspected.status_code == 200 and introspected.json()["active"] is True
    assert revoked.status_code == 200
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert error_code(refreshed) == "token_revoked"

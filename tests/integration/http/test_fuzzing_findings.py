"""What the schemathesis suite (tests/fuzz/) found, pinned down one by one: the answers agree with
the OpenAPI document and with RFC 9110."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.doubles import Mailbox
from tests.integration.http.flows import API, bearer, error_code, signed_in


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = (await client.get("/api-docs/openapi.json")).json()
    return document


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", f"{API}/users/me/sessions", "GET"),
    ("POST", f"{API}/users/me", "GET, PATCH"),  # not DELETE and PUT, which /users/{user_id} has
    ("GET", f"{API}/auth/logout", "DELETE, POST"),
    ("POST", f"{API}/users/USR-aaaaaaaaaaaaaaaa", "DELETE, GET, PUT"),
])
async def test_a_wrong_method_names_every_method_of_the_path_in_allow(
        client: httpx.AsyncClient, method: str, path: str, allowed: str) -> None:
    response = await client.request(method, path)

    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")
    assert response.headers["allow"] == allowed


async def test_every_operation_with_a_body_documents_the_400_of_a_body_that_cannot_be_parsed(
        client: httpx.AsyncClient, openapi: dict[str, Any]) -> None:
    with_body = [operation for operations in openapi["paths"].values() for operation in operations.values()
                 if "requestBody" in operation]
    revoke = await client.post(f"{API}/auth/revoke", content=b"token=x",
                               headers={"Content-Type": "multipart/form-data"})

    assert with_body and all("400" in operation["responses"] for operation in with_body)
    assert (revoke.status_code, error_code(revoke)) == (400, "bad_request")


async def test_every_api_operation_documents_429_since_every_request_counts_against_a_limit(
        openapi: dict[str, Any]) -> None:
    api = [operation for path, operations in openapi["paths"].items() if path.startswith(API)
           for operation in operations.values()]

    assert api and all("429" in operation["responses"] for operation in api)


async def test_email_fields_are_documented_as_emails(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    assert schemas["LoginRequest"]["properties"]["email"]["format"] == "email"


async def test_the_jwks_response_is_documented_with_its_schema(client: httpx.AsyncClient,
                                                               openapi: dict[str, Any]) -> None:
    documented = openapi["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]

    assert documented["application/json"]["schema"]
    assert (await client.get("/.well-known/jwks.json")).json()["keys"]


async def test_introspection_without_client_credentials_is_unauthenticated_before_the_form_is_read(
        client: httpx.AsyncClient) -> None:
    response = await client.post(f"{API}/auth/introspect", data={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("moment", ["0.5", "1700000000", "-1", "1e9"])
async def test_audit_times_are_rfc_3339_and_never_read_as_unix_timestamps(
        client: httpx.AsyncClient, mailbox: Mailbox, moment: str) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")

    response = await client.get(f"{API}/security/audit-log", headers=bearer(tokens["access_token"]))
    refused = await client.get(f"{API}/audit/logs", params={"from": moment},
                               headers=bearer(tokens["access_token"]))

    assert response.status_code == 200
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")

"""The documentation and metrics endpoints of SPEC §8: an OpenAPI 3.1 document in which every API
route has request and response schemas and enveloped errors, Swagger UI and ReDoc, and Prometheus
metrics labelled by route template."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.doubles import Mailbox
from tests.integration.http.flows import API, PASSWORD, bearer, error_code, signed_in

ENVELOPE = {"$ref": "#/components/schemas/ErrorResponse"}
METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api-docs/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def api_operations(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": operation for path, operations in openapi["paths"].items()
            if path.startswith(API) for method, operation in operations.items()}


def test_the_document_is_openapi_3_1_with_unique_operation_ids(openapi: dict[str, Any]) -> None:
    operation_ids = Counter(op["operationId"] for path in openapi["paths"].values() for op in path.values())

    assert openapi["openapi"].startswith("3.1.")
    assert [name for name, count in operation_ids.items() if count > 1] == []
    assert len(api_operations(openapi)) >= 20


def test_every_request_body_has_a_schema(openapi: dict[str, Any]) -> None:
    bodies = {name: op["requestBody"]["content"] for name, op in api_operations(openapi).items()
              if "requestBody" in op}

    assert {"POST /api/v1/auth/login", "POST /api/v1/auth/token", "PATCH /api/v1/users/me"} <= set(bodies)
    for name, content in bodies.items():
        assert content, name
        for media_type in content.values():
            assert media_type.get("schema"), name


def test_every_success_response_has_a_schema_or_no_content(openapi: dict[str, Any]) -> None:
    for name, operation in api_operations(openapi).items():
        successes = {status: r for status, r in operation["responses"].items() if status.startswith("2")}

        assert len(successes) == 1, name
        for status, response in successes.items():
            content = response.get("content", {})
            if status == "204":
                assert content == {}, name
            for media_type in content.values():
                assert media_type.get("schema"), f"{name} answers {status} without a schema"


def test_every_error_response_is_the_envelope(openapi: dict[str, Any]) -> None:
    for name, operation in api_operations(openapi).items():
        errors = {status: r for status, r in operation["responses"].items() if not status.startswith("2")}

        assert {"500", "503"} <= set(errors), name
        for status, response in errors.items():
            assert response["content"]["application/json"]["schema"] == ENVELOPE, f"{name} {status}"
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_the_envelope_schema_has_the_four_error_members(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    body = schemas[schemas["ErrorResponse"]["properties"]["error"]["$ref"].rsplit("/", 1)[1]]

    assert set(body["properties"]) == {"code", "message", "details", "trace_id"}
    assert set(body["required"]) >= {"code", "message", "details", "trace_id"}


def test_routes_behind_a_bearer_token_document_401_and_sign_in_through_the_token_endpoint(
        openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    (oauth_name,) = [name for name, scheme in schemes.items() if scheme["type"] == "oauth2"]

    assert schemes[oauth_name]["flows"]["password"]["tokenUrl"] == f"{API}/auth/token"
    protected = {name: op for name, op in api_operations(openapi).items()
                 if any(oauth_name in requirement for requirement in op.get("security", []))}
    assert {"GET /api/v1/users/me", "GET /api/v1/auth/validate-token", "POST /api/v1/auth/logout"} <= set(protected)
    assert all("401" in op["responses"] for op in protected.values())


@pytest.mark.parametrize(("path", "marker"), [("/swagger-ui/", "swagger-ui"), ("/redoc", "redoc")])
async def test_the_documentation_pages_serve_html_that_loads_the_document(
        client: httpx.AsyncClient, path: str, marker: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text.lower()
    assert "/api-docs/openapi.json" in response.text


@pytest.mark.parametrize("settings_overrides", [{"docs_enabled": False}])
async def test_the_documentation_can_be_turned_off(client: httpx.AsyncClient) -> None:
    responses = [await client.get(path) for path in ("/api-docs/openapi.json", "/swagger-ui/", "/redoc")]

    assert [r.status_code for r in responses] == [404, 404, 404]


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels}` (labels in any order), or None when it is absent."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if found == labels:
                return float(match.group(3))
    return None


async def test_metrics_count_requests_by_route_template_and_logins_and_tokens(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")
    await client.post(f"{API}/auth/login", json={"email": "ada@example.com", "password": PASSWORD + "?"})
    await client.delete(f"{API}/users/me/sessions/SES-0000000000000000", headers=bearer(tokens["access_token"]))
    await client.get("/no/such/path")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "http_requests_total", method="POST", route="/api/v1/auth/login", status="200") == 1
    assert _sample(text, "http_requests_total", method="POST", route="/api/v1/auth/login", status="401") == 1
    assert _sample(text, "http_requests_total", method="DELETE", route="/api/v1/users/me/sessions/{session_id}",
                   status="404") == 1
    assert _sample(text, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert _sample(text, "http_request_duration_seconds_count", method="POST", route="/api/v1/auth/login",
                   status="200") == 1
    assert _sample(text, "auth_logins_total", outcome="success") == 1
    assert _sample(text, "auth_logins_total", outcome="failure") == 1
    assert _sample(text, "auth_tokens_issued_total") == 1
    assert _sample(text, "auth_active_sessions") == 1


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": METRICS_TOKEN}])
async def test_with_a_metrics_token_the_metrics_need_it_as_a_bearer(client: httpx.AsyncClient) -> None:
    missing = await client.get("/metrics")
    wrong = await client.get("/metrics", headers=bearer("not-the-token"))
    right = await client.get("/metrics", headers=bearer(METRICS_TOKEN))

    assert (missing.status_code, error_code(missing)) == (401, "unauthenticated")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200 and "http_requests_total" in right.text

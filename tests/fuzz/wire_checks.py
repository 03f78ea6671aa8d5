"""Checks of SPEC §2 and §8 that the document alone cannot express, in schemathesis' check signature
`(ctx, response, case)`: they raise AssertionError on a violation."""

from __future__ import annotations

import json
from typing import Any

from tests.fuzz.service import API, DOCUMENT

ERROR_MEMBERS = {"code", "message", "details", "trace_id"}


def _header(response: Any, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def error_envelope(ctx: Any, response: Any, case: Any) -> None:
    """Every non-2xx answer is `{"error": {code, message, details, trace_id}}` with the request's trace id."""
    if response.status_code < 400:
        return
    content_type = _header(response, "content-type") or ""
    assert content_type.startswith("application/json"), f"{response.status_code} answered as {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error envelope: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == ERROR_MEMBERS, f"not the error envelope: {body!r}"
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and "Traceback" not in error["message"], body
    assert error["details"] is None or isinstance(error["details"], dict), body
    assert error["trace_id"] == _header(response, "x-request-id"), "trace_id is not the X-Request-ID"
    if response.status_code == 429:
        assert (_header(response, "retry-after") or "").isdigit(), "a 429 without Retry-After"
    if response.status_code == 401:
        assert _header(response, "www-authenticate"), "a 401 without WWW-Authenticate"


def response_schema_documented(ctx: Any, response: Any, case: Any) -> None:
    """The status is documented for the operation, with a schema for whatever body it carries."""
    operation = DOCUMENT["paths"][case.path].get(case.method.lower())
    if operation is None:
        return  # a method the path does not have: schemathesis' `unsupported_method` wants a 405
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{case.method} {case.path} answered an undocumented {response.status_code}"
    if response.content:
        media = documented.get("content", {})
        assert any(entry.get("schema") for entry in media.values()), (
            f"{case.method} {case.path} answered {response.status_code} with a body but documents no schema")


def security_headers(ctx: Any, response: Any, case: Any) -> None:
    """X-Request-ID and nosniff everywhere; no-store on the API (SPEC §2)."""
    assert _header(response, "x-request-id"), "no X-Request-ID"
    assert _header(response, "x-content-type-options") == "nosniff", "no X-Content-Type-Options: nosniff"
    if case.path.startswith(API):
        assert _header(response, "cache-control") == "no-store", "an API answer without Cache-Control: no-store"

"""OpenAPI error responses, generated from the one status map rather than written per route."""

from __future__ import annotations

from typing import Any

from auth_service.interfaces.http.errors import HTTP_STATUS
from auth_service.interfaces.http.schemas import ErrorResponse

_GENERIC = {401: ["unauthenticated"], 404: ["not_found"], 413: ["payload_too_large"],
            422: ["validation_error"], 500: ["internal_error"], 503: ["service_unavailable"]}


def _codes(status: int) -> list[str]:
    codes = {error_type.code for error_type, mapped in HTTP_STATUS.items() if mapped == status}
    return sorted(codes | set(_GENERIC.get(status, [])))


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the envelope schema and its possible codes."""
    result: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 500, 503):
        codes = _codes(status)
        result[status] = {
            "model": ErrorResponse,
            "description": "Error codes: " + ", ".join(f"`{code}`" for code in codes),
            "content": {"application/json": {"example": {"error": {
                "code": codes[0] if codes else "error", "message": "…", "details": None, "trace_id": "…"}}}},
        }
    return result

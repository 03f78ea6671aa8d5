"""OpenAPI error responses, generated from the one status map rather than written per route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from auth_service.interfaces.http.errors import HTTP_STATUS
from auth_service.interfaces.http.schemas import ErrorResponse

_GENERIC = {401: ["unauthenticated"], 404: ["not_found"], 413: ["payload_too_large"],
            422: ["validation_error"], 500: ["internal_error"], 503: ["service_unavailable"]}
_FASTAPI_VALIDATION_ERROR = "#/components/schemas/HTTPValidationError"


def _codes(status: int) -> list[str]:
    codes = {error_type.code for error_type, mapped in HTTP_STATUS.items() if mapped == status}
    return sorted(codes | set(_GENERIC.get(status, [])))


def _description(codes: list[str]) -> str:
    return "Error codes: " + ", ".join(f"`{code}`" for code in codes)


def _example(codes: list[str]) -> dict[str, Any]:
    return {"error": {"code": codes[0] if codes else "error", "message": "…", "details": None, "trace_id": "…"}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route under /api/v1: each status with the envelope schema and its possible
    codes. Every such route may also answer 429 (the default request limit counts them all)."""
    result: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 429, 500, 503}):
        codes = _codes(status)
        result[status] = {"model": ErrorResponse, "description": _description(codes),
                          "content": {"application/json": {"example": _example(codes)}}}
    return result


def document_validation_errors_as_envelope(app: FastAPI) -> None:
    """FastAPI documents its own 422 body (`HTTPValidationError`) on every route that takes input,
    whatever `responses=` says; ours is the envelope, so rewrite those once the document is built,
    and add the 400 of a body that cannot be parsed."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _envelope_validation_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def _envelope(status: int) -> dict[str, Any]:
    codes = _codes(status)
    return {"description": _description(codes), "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}, "example": _example(codes)}}}


def _envelope_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") == _FASTAPI_VALIDATION_ERROR:
                    responses[status] = _envelope(422)
            if "requestBody" in operation:
                # A body the framework cannot parse at all (not UTF-8, a form without its multipart
                # boundary) is 400 `bad_request` before any field is validated.
                responses.setdefault("400", _envelope(400))
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document

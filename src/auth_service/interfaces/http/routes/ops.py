"""Operations: liveness, readiness and Prometheus metrics (SPEC §8)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from auth_service import __version__
from auth_service.application.errors import UnauthenticatedError
from auth_service.interfaces.http.dependencies import HandlersDep
from auth_service.interfaces.http.schemas import HealthResponse, ReadinessResponse

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> HealthResponse:
    return HealthResponse(status="ok", version=__version__)


@router.get("/health/ready", response_model=ReadinessResponse, responses={503: {"model": ReadinessResponse}})
async def ready(handlers: HandlersDep) -> JSONResponse:
    checks = await handlers.readiness()
    healthy = all(state == "ok" for state in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", "checks": checks},
                          status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, handlers: HandlersDep) -> Response:
    expected = handlers.settings.metrics_token
    if expected:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise UnauthenticatedError("A metrics token is required.")
    await handlers.refresh_gauges()
    payload, content_type = handlers.http_metrics.render()
    return Response(payload, media_type=content_type)

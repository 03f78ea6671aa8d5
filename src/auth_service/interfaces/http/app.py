"""The FastAPI application: routers, error envelope, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from auth_service import __version__
from auth_service.bootstrap import AccessLog, Container
from auth_service.interfaces.http.client_ip import ClientIpResolver
from auth_service.interfaces.http.errors import install_error_handlers
from auth_service.interfaces.http.fast_paths import (
    GetMeFastPath,
    LoginFastPath,
    RefreshFastPath,
    ValidateTokenFastPath,
)
from auth_service.interfaces.http.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from auth_service.interfaces.http.openapi import document_validation_errors_as_envelope
from auth_service.interfaces.http.rate_limits import default_rate_limit
from auth_service.interfaces.http.routes import audit, auth, companies, me, mfa, ops, users, wellknown

API_PREFIX = "/api/v1"


def create_app(container: Container) -> FastAPI:
    settings = container.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    docs = settings.show_docs
    app = FastAPI(
        title="auth-service",
        version=__version__,
        description="Authentication and authorization: accounts, tokens, roles, audit.",
        openapi_url="/api-docs/openapi.json" if docs else None,
        docs_url="/swagger-ui/" if docs else None,
        redoc_url="/redoc" if docs else None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hook: unused here (Prometheus metrics, JSON logs with the trace
        # id), and off it costs nothing; left on, every request asks three global OpenTelemetry
        # providers whether they are configured, ~6% of a worker's CPU on a cached bearer check.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    install_error_handlers(app, container.dependency_errors, container.is_unavailable)
    document_validation_errors_as_envelope(app)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(default_rate_limit)])
    api.include_router(auth.router)
    api.include_router(me.router)
    api.include_router(users.router)
    api.include_router(companies.router)
    api.include_router(audit.router)
    api.include_router(audit.security_router)
    if container.keycloak is None:  # Keycloak mode: MFA is Keycloak's, these paths answer 404 (SPEC §9.6)
        api.include_router(mfa.auth_router)
        api.include_router(mfa.security_router)
    app.include_router(api)
    app.include_router(wellknown.router)
    app.include_router(ops.router)

    # Innermost: they answer a valid bearer check, GET /users/me, a login and a refresh with the context
    # (client IP) and CORS in place. Validate-token, the hottest, is the outer one: it passes fewer layers.
    app.add_middleware(RefreshFastPath, container=container)
    app.add_middleware(LoginFastPath, container=container)
    app.add_middleware(GetMeFastPath, container=container)
    app.add_middleware(ValidateTokenFastPath, container=container)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"])
    # Added last = outermost: the context (trace id, client IP) exists before the size check runs.
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(RequestContextMiddleware, ip_resolver=ClientIpResolver(settings.trusted_proxies),
                       metrics=container.http_metrics, access_log=AccessLog())
    return app

"""Discovery: JWKS and RFC 8414 metadata (SPEC §3 Keys and discovery)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from auth_service.interfaces.http.dependencies import HandlersDep

router = APIRouter(prefix="/.well-known", tags=["discovery"])


class JwksResponse(BaseModel):
    """RFC 7517 §5: a JWK Set."""

    keys: list[dict[str, Any]]


@router.get("/jwks.json", response_model=JwksResponse)
async def jwks(handlers: HandlersDep) -> JSONResponse:
    return JSONResponse(handlers.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/openid-configuration")
async def openid_configuration(handlers: HandlersDep) -> dict[str, Any]:
    base = handlers.settings.public_base_url.rstrip("/")
    return {
        "issuer": handlers.issuer,  # Keycloak mode: Keycloak's issuer and keys (SPEC §9.6)
        "jwks_uri": handlers.jwks_uri,
        "token_endpoint": f"{base}/api/v1/auth/token",
        "introspection_endpoint": f"{base}/api/v1/auth/introspect",
        "revocation_endpoint": f"{base}/api/v1/auth/revoke",
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "bearer"],
        "id_token_signing_alg_values_supported": [
            "RS256" if handlers.keycloak is not None else handlers.settings.jwt_algorithm],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "user_id", "email",
                             "email_verified", "roles", "company_id", "network_id", "station_id"],
    }

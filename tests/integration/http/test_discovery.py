"""Keys and discovery (SPEC §3): the JWKS and the RFC 8414 metadata, under a PUBLIC_BASE_URL
that is not the test client's host, so that every URL is seen to come from the setting."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.doubles import Mailbox
from tests.integration.http.flows import API, bearer, signed_in

PUBLIC_BASE_URL = "https://id.example.com/auth"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_base_url": PUBLIC_BASE_URL + "/"}


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    required = {name: jwk[name] for name in ("e", "kty", "n")}  # RSA's required members, in order
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_the_jwks_may_be_cached_for_five_minutes(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    directives = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert "max-age=300" in directives
    assert "no-store" not in directives and "no-cache" not in directives
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_published_key_is_named_by_its_rfc_7638_thumbprint(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")

    keys = response.json()["keys"]
    assert len(keys) == 1
    for jwk in keys:
        assert jwk["kid"] == rfc7638_thumbprint(jwk)
        assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "a private member is published"


async def test_the_discovery_document_points_under_the_public_base_url(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == PUBLIC_BASE_URL
    assert metadata["jwks_uri"] == f"{PUBLIC_BASE_URL}/.well-known/jwks.json"
    assert metadata["token_endpoint"] == f"{PUBLIC_BASE_URL}/api/v1/auth/token"
    assert metadata["introspection_endpoint"] == f"{PUBLIC_BASE_URL}/api/v1/auth/introspect"
    assert metadata["revocation_endpoint"] == f"{PUBLIC_BASE_URL}/api/v1/auth/revoke"
    assert {"password", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_the_issuer_of_the_discovery_document_is_the_iss_of_access_tokens(
        client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    tokens = await signed_in(client, mailbox, "ada@example.com")

    validated = await client.get(f"{API}/auth/validate-token", headers=bearer(tokens["access_token"]))
    metadata = (await client.get("/.well-known/openid-configuration")).json()

    assert validated.json()["claims"]["iss"] == metadata["issuer"]

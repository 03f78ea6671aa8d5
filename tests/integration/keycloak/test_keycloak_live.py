"""The Keycloak-mode flows against a real Keycloak (24+), when one is reachable: set KEYCLOAK_URL
(e.g. http://127.0.0.1:8080 with `docker compose up keycloak`, realm imported from
deploy/keycloak/realm-export.json) and KEYCLOAK_BACKEND_CLIENT_SECRET. Without KEYCLOAK_URL these
tests skip, on CI too: Keycloak cannot run on the CI machine, the emulator tests stand in there."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from auth_service.bootstrap import Container
from tests.doubles import Mailbox
from tests.integration.http.flows import API, OTHER_PASSWORD, PASSWORD, bearer, error_code, login, register_verified

pytestmark = pytest.mark.keycloak_live

REALM = os.environ.get("KEYCLOAK_REALM", "myrealm")


@pytest.fixture
def live_url() -> str:
    url = os.environ.get("KEYCLOAK_URL")
    if not url:
        pytest.skip("live Keycloak tests need KEYCLOAK_URL")
    return url.rstrip("/")


@pytest.fixture
def settings_overrides(live_url: str) -> dict[str, Any]:
    return {
        "identity_provider": "keycloak",
        "keycloak_url": live_url,
        "keycloak_realm": REALM,
        "keycloak_auth_client_id": os.environ.get("KEYCLOAK_AUTH_CLIENT_ID", "auth-client"),
        "keycloak_auth_client_secret": os.environ.get("KEYCLOAK_AUTH_CLIENT_SECRET") or None,
        "keycloak_backend_client_id": os.environ.get("KEYCLOAK_BACKEND_CLIENT_ID", "backend-admin"),
        "keycloak_backend_client_secret": os.environ.get("KEYCLOAK_BACKEND_CLIENT_SECRET", "backend-admin-dev-secret"),
    }


@pytest.fixture
async def live_admin(settings_overrides: dict[str, Any]) -> AsyncIterator[KeycloakAdmin]:
    connection = KeycloakOpenIDConnection(
        server_url=settings_overrides["keycloak_url"], realm_name=REALM, user_realm_name=REALM,
        client_id=settings_overrides["keycloak_backend_client_id"],
        client_secret_key=settings_overrides["keycloak_backend_client_secret"])
    yield KeycloakAdmin(connection=connection)
    await connection.aclose()


@pytest.fixture
async def email(live_admin: KeycloakAdmin) -> AsyncIterator[str]:
    """A fresh address per test; its Keycloak user is deleted afterwards."""
    address = f"live-{uuid.uuid4().hex[:10]}@example.com"
    yield address
    for user in await live_admin.a_get_users({"email": address, "exact": True}):
        await live_admin.a_delete_user(user["id"])


async def test_register_verify_login_refresh_logout_against_a_real_keycloak(
        client: httpx.AsyncClient, mailbox: Mailbox, live_admin: KeycloakAdmin, email: str,
        container: Container) -> None:
    response = await client.post(f"{API}/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    [kc_user] = await live_admin.a_get_users({"email": email, "exact": True})
    assert kc_user["requiredActions"] == ["VERIFY_EMAIL"] and kc_user["emailVerified"] is False
    wrong = await client.post(f"{API}/auth/login", json={"email": email, "password": OTHER_PASSWORD})
    pending = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert (wrong.status_code, pending.status_code, error_code(pending)) == (401, 403, "email_not_verified")

    await live_admin.a_delete_user(kc_user["id"])  # start over through the whole flow
    user_id = await register_verified(client, mailbox, f"v-{email}")
    tokens = await login(client, f"v-{email}")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["user_id"] == user_id
    assert (await client.get(f"{API}/users/me", headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await client.get(f"{API}/users/me", headers=bearer(tokens["id_token"]))).status_code == 401
    refreshed = await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    out = await client.post(f"{API}/auth/logout", headers=bearer(refreshed.json()["access_token"]),
                            json={"refresh_token": refreshed.json()["refresh_token"]})
    assert out.status_code in (200, 204)
    again = await client.post(f"{API}/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401
    for user in await live_admin.a_get_users({"email": f"v-{email}", "exact": True}):
        await live_admin.a_delete_user(user["id"])

"""Keycloak emulator fixtures: one server per test session (`keycloak_server`), reset before every test
(`keycloak`), and python-keycloak clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection

from tests.keycloak_emulator import KeycloakEmulator, fixtures

keycloak_server = fixtures.keycloak_server
keycloak = fixtures.keycloak


@pytest.fixture
async def keycloak_admin(keycloak: KeycloakEmulator) -> AsyncIterator[KeycloakAdmin]:
    """python-keycloak's admin client, signed in as the `backend-admin` service account."""
    connection = KeycloakOpenIDConnection(
        server_url=keycloak.url,
        realm_name=keycloak.realm,
        user_realm_name=keycloak.realm,
        client_id="backend-admin",
        client_secret_key=keycloak.client_secret("backend-admin"),
    )
    yield KeycloakAdmin(connection=connection)
    await connection.aclose()
    await connection.keycloak_openid.connection.aclose()


@pytest.fixture
async def keycloak_openid(keycloak: KeycloakEmulator) -> AsyncIterator[KeycloakOpenID]:
    """python-keycloak's OIDC client for the public `auth-client`."""
    openid = KeycloakOpenID(server_url=keycloak.url, realm_name=keycloak.realm, client_id="auth-client")
    yield openid
    await openid.connection.aclose()

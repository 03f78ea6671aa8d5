"""Keycloak emulator fixtures: one server per test session, reset before every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection

from tests.keycloak_emulator import KeycloakEmulator


@pytest.fixture(scope="session")
def keycloak_server() -> Iterator[KeycloakEmulator]:
    with KeycloakEmulator() as emulator:
        yield emulator


@pytest.fixture
def keycloak(keycloak_server: KeycloakEmulator) -> KeycloakEmulator:
    """The emulator in its seeded state: realm, clients and service accounts, no other users."""
    keycloak_server.reset()
    return keycloak_server


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

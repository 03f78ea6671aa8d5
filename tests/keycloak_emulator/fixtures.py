"""pytest fixtures for the emulator. A conftest.py that wants them binds them to module names:
`keycloak_server = fixtures.keycloak_server` and `keycloak = fixtures.keycloak`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.keycloak_emulator.server import KeycloakEmulator


@pytest.fixture(scope="session")
def keycloak_server() -> Iterator[KeycloakEmulator]:
    """One emulator for the whole test session, started on a free port of 127.0.0.1."""
    with KeycloakEmulator() as emulator:
        yield emulator


@pytest.fixture
def keycloak(keycloak_server: KeycloakEmulator) -> KeycloakEmulator:
    """The emulator in its seeded state: realm, clients and service accounts, no other users."""
    keycloak_server.reset()
    return keycloak_server

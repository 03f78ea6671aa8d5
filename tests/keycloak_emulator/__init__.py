"""An in-process Keycloak 24 stand-in for tests: a real HTTP server on 127.0.0.1 that serves the realm
of `deploy/keycloak/realm-export.json` (OIDC endpoints and the admin REST API's user resources)."""

from tests.keycloak_emulator.server import KeycloakEmulator

__all__ = ["KeycloakEmulator"]

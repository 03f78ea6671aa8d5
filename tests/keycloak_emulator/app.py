"""The HTTP face of the emulator: one Starlette app for the OIDC and admin REST routes."""

from __future__ import annotations

from starlette.applications import Starlette

from tests.keycloak_emulator.admin_routes import admin_routes
from tests.keycloak_emulator.oidc_routes import oidc_routes
from tests.keycloak_emulator.state import EmulatorState


def create_app(state: EmulatorState) -> Starlette:
    return Starlette(routes=[*oidc_routes(state), *admin_routes(state)])

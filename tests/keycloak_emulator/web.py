"""Request and response plumbing shared by the emulator's routes: counting, faults, realm checks,
form and JSON bodies, and the admin API's bearer check."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.keycloak_emulator import oidc
from tests.keycloak_emulator.realm import realm_management_role_names
from tests.keycloak_emulator.state import EmulatorState, KeycloakError

Handler = Callable[[Request], Awaitable[Response]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_READ_ROLES = frozenset({"view-users", "manage-users", "query-users"})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def endpoint(state: EmulatorState, operation: str, *, admin_api: bool = False) -> Callable[[Handler], Handler]:
    """Count the request, check the realm, and turn a KeycloakError into Keycloak's answer. OIDC
    endpoints take injected faults here; admin endpoints after the bearer check (require_admin)."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            state.hit(operation)
            try:
                if request.path_params["realm"] != state.realm.name:
                    body = {"error": "Realm not found."} if admin_api else {"error": "Realm does not exist"}
                    raise KeycloakError(404, body)
                if not admin_api:
                    state.take_fault(operation)
                return await handler(request)
            except KeycloakError as exc:
                if exc.body is None:
                    return Response(status_code=exc.status, headers=exc.headers)
                return json_response(exc.body, exc.status, exc.headers)

        return run

    return wrap


async def form_of(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def json_of(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise KeycloakError(400, {"error": "unknown_error"}) from exc


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def require_admin(state: EmulatorState, request: Request, operation: str, *, write: bool) -> None:
    """AdminRoot.authenticateRealmAdminRequest, then the realm-management role check."""
    with state.lock:
        found = oidc.active_token(state, bearer_token(request))
    if found is None:
        raise KeycloakError(401, {"error": "HTTP 401 Unauthorized"})
    claims, _user = found
    roles = set(((claims.get("resource_access") or {}).get("realm-management") or {}).get("roles", []))
    if "realm-admin" in roles:
        roles |= set(realm_management_role_names())
    allowed = "manage-users" in roles if write else bool(roles & _READ_ROLES)
    if not allowed:
        raise KeycloakError(403, {"error": "HTTP 403 Forbidden"})
    state.take_fault(operation)

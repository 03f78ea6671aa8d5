"""The HTTP face of the emulator: Starlette routes under /realms/{realm} and /admin/realms/{realm}."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.keycloak_emulator import admin, oidc
from tests.keycloak_emulator.realm import realm_management_role_names
from tests.keycloak_emulator.state import EmulatorState, KeycloakError, oauth_error

Handler = Callable[[Request], Awaitable[Response]]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_READ_ROLES = frozenset({"view-users", "manage-users", "query-users"})
_OIDC = "/realms/{realm}/protocol/openid-connect"
_ADMIN = "/admin/realms/{realm}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(state: EmulatorState) -> Starlette:
    def realm_guard(request: Request, *, admin_api: bool = False) -> None:
        if request.path_params["realm"] != state.realm.name:
            raise KeycloakError(404, {"error": "Realm not found."} if admin_api else {"error": "Realm does not exist"})

    def endpoint(operation: str, *, admin_api: bool = False) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            async def run(request: Request) -> Response:
                state.hit(operation)
                try:
                    realm_guard(request, admin_api=admin_api)
                    if not admin_api:
                        state.take_fault(operation)
                    return await handler(request)
                except KeycloakError as exc:
                    return (
                        _json(exc.body, exc.status, exc.headers)
                        if exc.body is not None
                        else Response(status_code=exc.status, headers=exc.headers)
                    )

            return run

        return wrap

    async def form_of(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return {}
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    async def json_of(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw) if raw else {}
        except ValueError as exc:
            raise KeycloakError(400, {"error": "unknown_error"}) from exc

    def require_admin(request: Request, operation: str, *, write: bool) -> None:
        """AdminRoot.authenticateRealmAdminRequest, then the realm-management role check."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        with state.lock:
            found = oidc.active_token(state, token)
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

    # -- OpenID Connect ------------------------------------------------------------------------

    @endpoint("well_known")
    async def well_known(request: Request) -> Response:
        base = f"{state.issuer}/protocol/openid-connect"
        return _json({
            "issuer": state.issuer,
            "authorization_endpoint": f"{base}/auth",
            "token_endpoint": f"{base}/token",
            "introspection_endpoint": f"{base}/token/introspect",
            "userinfo_endpoint": f"{base}/userinfo",
            "end_session_endpoint": f"{base}/logout",
            "frontchannel_logout_session_supported": True,
            "frontchannel_logout_supported": True,
            "jwks_uri": f"{base}/certs",
            "check_session_iframe": f"{base}/login-status-iframe.html",
            "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password",
                                      "client_credentials", "urn:openid:params:grant-type:ciba",
                                      "urn:ietf:params:oauth:grant-type:device_code"],
            "response_types_supported": ["code", "none", "id_token", "token", "id_token token", "code id_token",
                                         "code token", "code id_token token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256", "none"],
            "request_object_signing_alg_values_supported": ["RS256", "none"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "registration_endpoint": f"{state.base_url}/realms/{state.realm.name}/clients-registrations/openid-connect",
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post",
                                                      "tls_client_auth", "client_secret_jwt"],
            "claims_supported": ["aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
                                 "preferred_username", "email", "acr"],
            "claim_types_supported": ["normal"],
            "claims_parameter_supported": True,
            "scopes_supported": ["openid", "profile", "email", "roles", "web-origins", "acr", "address", "phone",
                                 "offline_access", "microprofile-jwt"],
            "request_parameter_supported": True,
            "request_uri_parameter_supported": True,
            "code_challenge_methods_supported": ["plain", "S256"],
            "tls_client_certificate_bound_access_tokens": True,
            "revocation_endpoint": f"{base}/revoke",
            "revocation_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
                                                           "client_secret_post", "tls_client_auth",
                                                           "client_secret_jwt"],
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "device_authorization_endpoint": f"{base}/auth/device",
        })  # fmt: skip

    @endpoint("realm_info")
    async def realm_info(request: Request) -> Response:
        with state.lock:
            public_key = state.keys.public_key_pem_body()
        return _json({
            "realm": state.realm.name, "public_key": public_key,
            "token-service": f"{state.issuer}/protocol/openid-connect",
            "account-service": f"{state.issuer}/account", "tokens-not-before": 0,
        })  # fmt: skip

    @endpoint("certs")
    async def certs(request: Request) -> Response:
        with state.lock:
            return _json(state.keys.jwks(), headers={"Cache-Control": "no-cache"})

    @endpoint("token")
    async def token(request: Request) -> Response:
        form = await form_of(request)
        ip = request.client.host if request.client else "127.0.0.1"
        with state.lock:
            grant = form.get("grant_type")
            if not grant:
                raise oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
            state.counts[f"token:{grant}"] += 1
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            if grant == "password":
                body = oidc.password_grant(state, client, form, ip)
            elif grant == "refresh_token":
                body = oidc.refresh_grant(state, client, form)
            elif grant == "client_credentials":
                body = oidc.client_credentials_grant(state, client, form)
            else:
                raise oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
        return _json(body, headers=_NO_STORE)

    @endpoint("logout")
    async def logout(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            oidc.logout(state, client, form)
        return Response(status_code=204)

    @endpoint("revoke")
    async def revoke(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            body = oidc.revoke(state, client, form)
        return _json(body) if body is not None else Response(status_code=200)

    @endpoint("introspect")
    async def introspect(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            return _json(oidc.introspect(state, client, form))

    @endpoint("userinfo")
    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        if token is None and request.method == "POST":
            token = (await form_of(request)).get("access_token")
        with state.lock:
            try:
                return _json(oidc.userinfo(state, token))
            except KeycloakError as exc:
                exc.headers["WWW-Authenticate"] = (
                    f'Bearer realm="{state.realm.name}", error="invalid_token", '
                    'error_description="Token verification failed"'
                )
                raise

    # -- admin REST API ------------------------------------------------------------------------

    @endpoint("get_users", admin_api=True)
    async def list_users(request: Request) -> Response:
        require_admin(request, "get_users", write=False)
        params = dict(request.query_params)
        first, limit = int(params.get("first") or 0), int(params.get("max") or 100)
        brief = params.get("briefRepresentation", "false").lower() == "true"
        with state.lock:
            users = admin.search_users(state, params)[first : first + limit if limit >= 0 else None]
            return _json([admin.representation(u, brief=brief) for u in users])

    @endpoint("create_user", admin_api=True)
    async def create_user(request: Request) -> Response:
        require_admin(request, "create_user", write=True)
        rep = await json_of(request)
        with state.lock:
            user_id = admin.create_user(state, rep)
        location = f"{state.base_url}/admin/realms/{state.realm.name}/users/{user_id}"
        return Response(status_code=201, headers={"Location": location})

    @endpoint("count_users", admin_api=True)
    async def count_users(request: Request) -> Response:
        require_admin(request, "count_users", write=False)
        with state.lock:
            return _json(len(admin.search_users(state, dict(request.query_params))))

    @endpoint("get_user", admin_api=True)
    async def get_user(request: Request) -> Response:
        require_admin(request, "get_user", write=False)
        with state.lock:
            return _json(admin.representation(admin.get_user(state, request.path_params["id"])))

    @endpoint("update_user", admin_api=True)
    async def update_user(request: Request) -> Response:
        require_admin(request, "update_user", write=True)
        rep = await json_of(request)
        with state.lock:
            admin.update_user(state, request.path_params["id"], rep)
        return Response(status_code=204)

    @endpoint("delete_user", admin_api=True)
    async def delete_user(request: Request) -> Response:
        require_admin(request, "delete_user", write=True)
        with state.lock:
            user = admin.get_user(state, request.path_params["id"])
            state.end_sessions_of(user.id)
            state.login_failures.pop(user.id, None)
            del state.users[user.id]
        return Response(status_code=204)

    @endpoint("reset_password", admin_api=True)
    async def reset_password(request: Request) -> Response:
        require_admin(request, "reset_password", write=True)
        rep = await json_of(request)
        with state.lock:
            admin.reset_password(state, request.path_params["id"], rep if isinstance(rep, dict) else {})
        return Response(status_code=204)

    @endpoint("execute_actions_email", admin_api=True)
    async def execute_actions_email(request: Request) -> Response:
        require_admin(request, "execute_actions_email", write=True)
        actions = await json_of(request)
        if not isinstance(actions, list):
            raise KeycloakError(400, {"error": "unknown_error"})
        with state.lock:
            admin.send_actions_email(state, request.path_params["id"], actions, dict(request.query_params))
        return Response(status_code=204)

    @endpoint("send_verify_email", admin_api=True)
    async def send_verify_email(request: Request) -> Response:
        require_admin(request, "send_verify_email", write=True)
        params = dict(request.query_params)
        with state.lock:
            admin.send_actions_email(state, request.path_params["id"], ["VERIFY_EMAIL"], params)
        return Response(status_code=204)

    @endpoint("get_sessions", admin_api=True)
    async def user_sessions(request: Request) -> Response:
        require_admin(request, "get_sessions", write=False)
        with state.lock:
            user = admin.get_user(state, request.path_params["id"])
            ids = [s.id for s in list(state.sessions.values()) if s.user_id == user.id]
            live = [i for i in ids if state.live_session(i) is not None]
            return _json([admin.session_representation(state, i) for i in live])

    @endpoint("logout_user", admin_api=True)
    async def logout_user(request: Request) -> Response:
        require_admin(request, "logout_user", write=True)
        with state.lock:
            state.end_sessions_of(admin.get_user(state, request.path_params["id"]).id)
        return Response(status_code=204)

    @endpoint("delete_session", admin_api=True)
    async def delete_session(request: Request) -> Response:
        require_admin(request, "delete_session", write=True)
        with state.lock:
            if state.sessions.pop(request.path_params["sid"], None) is None:
                raise admin.not_found("Sesssion not found")  # sic: Keycloak's own spelling
        return Response(status_code=204)

    @endpoint("brute_force", admin_api=True)
    async def brute_force(request: Request) -> Response:
        require_admin(request, "brute_force", write=request.method == "DELETE")
        with state.lock:
            user_id = request.path_params["id"]
            if request.method == "DELETE":
                state.login_failures.pop(user_id, None)
                return Response(status_code=204)
            failures = state.login_failures.get(user_id)
            disabled = oidc.brute_force_locked(state, state.users[user_id]) if user_id in state.users else False
            return _json({
                "numFailures": failures.num_failures if failures else 0, "disabled": disabled,
                "lastIPFailure": failures.last_ip if failures else "n/a",
                "lastFailure": failures.last_failure_ms if failures else 0,
            })  # fmt: skip

    routes = [
        Route("/realms/{realm}/.well-known/openid-configuration", well_known, methods=["GET"]),
        Route("/realms/{realm}", realm_info, methods=["GET"]),
        Route(f"{_OIDC}/certs", certs, methods=["GET"]),
        Route(f"{_OIDC}/token", token, methods=["POST"]),
        Route(f"{_OIDC}/token/introspect", introspect, methods=["POST"]),
        Route(f"{_OIDC}/logout", logout, methods=["POST"]),
        Route(f"{_OIDC}/revoke", revoke, methods=["POST"]),
        Route(f"{_OIDC}/userinfo", userinfo, methods=["GET", "POST"]),
        Route(f"{_ADMIN}/users", list_users, methods=["GET"]),
        Route(f"{_ADMIN}/users", create_user, methods=["POST"]),
        Route(f"{_ADMIN}/users/count", count_users, methods=["GET"]),
        Route(f"{_ADMIN}/users/{{id}}", get_user, methods=["GET"]),
        Route(f"{_ADMIN}/users/{{id}}", update_user, methods=["PUT"]),
        Route(f"{_ADMIN}/users/{{id}}", delete_user, methods=["DELETE"]),
        Route(f"{_ADMIN}/users/{{id}}/reset-password", reset_password, methods=["PUT"]),
        Route(f"{_ADMIN}/users/{{id}}/execute-actions-email", execute_actions_email, methods=["PUT"]),
        Route(f"{_ADMIN}/users/{{id}}/send-verify-email", send_verify_email, methods=["PUT"]),
        Route(f"{_ADMIN}/users/{{id}}/sessions", user_sessions, methods=["GET"]),
        Route(f"{_ADMIN}/users/{{id}}/logout", logout_user, methods=["POST"]),
        Route(f"{_ADMIN}/sessions/{{sid}}", delete_session, methods=["DELETE"]),
        Route(f"{_ADMIN}/attack-detection/brute-force/users/{{id}}", brute_force, methods=["GET", "DELETE"]),
    ]
    return Starlette(routes=routes)

"""The OpenID Connect routes under /realms/{realm}: discovery, keys, token, logout, revoke,
introspection and userinfo."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.keycloak_emulator import oidc
from tests.keycloak_emulator.state import EmulatorState, KeycloakError, oauth_error
from tests.keycloak_emulator.web import NO_STORE, bearer_token, endpoint, form_of, json_response

_OIDC = "/realms/{realm}/protocol/openid-connect"


def oidc_routes(state: EmulatorState) -> list[Route]:
    @endpoint(state, "well_known")
    async def well_known(request: Request) -> Response:
        base = f"{state.issuer}/protocol/openid-connect"
        return json_response({
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

    @endpoint(state, "realm_info")
    async def realm_info(request: Request) -> Response:
        with state.lock:
            public_key = state.keys.public_key_pem_body()
        return json_response({
            "realm": state.realm.name, "public_key": public_key,
            "token-service": f"{state.issuer}/protocol/openid-connect",
            "account-service": f"{state.issuer}/account", "tokens-not-before": 0,
        })  # fmt: skip

    @endpoint(state, "certs")
    async def certs(request: Request) -> Response:
        with state.lock:
            return json_response(state.keys.jwks(), headers={"Cache-Control": "no-cache"})

    @endpoint(state, "token")
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
        return json_response(body, headers=NO_STORE)

    @endpoint(state, "logout")
    async def logout(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            oidc.logout(state, client, form)
        return Response(status_code=204)

    @endpoint(state, "revoke")
    async def revoke(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            body = oidc.revoke(state, client, form)
        return json_response(body) if body is not None else Response(status_code=200)

    @endpoint(state, "introspect")
    async def introspect(request: Request) -> Response:
        form = await form_of(request)
        with state.lock:
            client = oidc.authenticate_client(state, form, request.headers.get("authorization"))
            return json_response(oidc.introspect(state, client, form))

    @endpoint(state, "userinfo")
    async def userinfo(request: Request) -> Response:
        token = bearer_token(request)
        if token is None and request.method == "POST":
            token = (await form_of(request)).get("access_token")
        with state.lock:
            try:
                return json_response(oidc.userinfo(state, token))
            except KeycloakError as exc:
                exc.headers["WWW-Authenticate"] = (
                    f'Bearer realm="{state.realm.name}", error="invalid_token", '
                    'error_description="Token verification failed"'
                )
                raise

    return [
        Route("/realms/{realm}/.well-known/openid-configuration", well_known, methods=["GET"]),
        Route("/realms/{realm}", realm_info, methods=["GET"]),
        Route(f"{_OIDC}/certs", certs, methods=["GET"]),
        Route(f"{_OIDC}/token", token, methods=["POST"]),
        Route(f"{_OIDC}/token/introspect", introspect, methods=["POST"]),
        Route(f"{_OIDC}/logout", logout, methods=["POST"]),
        Route(f"{_OIDC}/revoke", revoke, methods=["POST"]),
        Route(f"{_OIDC}/userinfo", userinfo, methods=["GET", "POST"]),
    ]

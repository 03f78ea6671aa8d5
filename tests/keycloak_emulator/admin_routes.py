"""The admin REST API routes under /admin/realms/{realm}: users, their passwords, action e-mails
and sessions, sessions by id, and brute-force status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.keycloak_emulator import admin, oidc
from tests.keycloak_emulator.state import EmulatorState, KeycloakError
from tests.keycloak_emulator.web import endpoint, json_of, json_response, require_admin

_ADMIN = "/admin/realms/{realm}"


def admin_routes(state: EmulatorState) -> list[Route]:
    @endpoint(state, "get_users", admin_api=True)
    async def list_users(request: Request) -> Response:
        require_admin(state, request, "get_users", write=False)
        params = dict(request.query_params)
        first, limit = int(params.get("first") or 0), int(params.get("max") or 100)
        brief = params.get("briefRepresentation", "false").lower() == "true"
        with state.lock:
            users = admin.search_users(state, params)[first : first + limit if limit >= 0 else None]
            return json_response([admin.representation(u, brief=brief) for u in users])

    @endpoint(state, "create_user", admin_api=True)
    async def create_user(request: Request) -> Response:
        require_admin(state, request, "create_user", write=True)
        rep = await json_of(request)
        with state.lock:
            user_id = admin.create_user(state, rep)
        location = f"{state.base_url}/admin/realms/{state.realm.name}/users/{user_id}"
        return Response(status_code=201, headers={"Location": location})

    @endpoint(state, "count_users", admin_api=True)
    async def count_users(request: Request) -> Response:
        require_admin(state, request, "count_users", write=False)
        with state.lock:
            return json_response(len(admin.search_users(state, dict(request.query_params))))

    @endpoint(state, "get_user", admin_api=True)
    async def get_user(request: Request) -> Response:
        require_admin(state, request, "get_user", write=False)
        with state.lock:
            return json_response(admin.representation(admin.get_user(state, request.path_params["id"])))

    @endpoint(state, "update_user", admin_api=True)
    async def update_user(request: Request) -> Response:
        require_admin(state, request, "update_user", write=True)
        rep = await json_of(request)
        with state.lock:
            admin.update_user(state, request.path_params["id"], rep)
        return Response(status_code=204)

    @endpoint(state, "delete_user", admin_api=True)
    async def delete_user(request: Request) -> Response:
        require_admin(state, request, "delete_user", write=True)
        with state.lock:
            user = admin.get_user(state, request.path_params["id"])
            state.end_sessions_of(user.id)
            state.login_failures.pop(user.id, None)
            del state.users[user.id]
        return Response(status_code=204)

    @endpoint(state, "reset_password", admin_api=True)
    async def reset_password(request: Request) -> Response:
        require_admin(state, request, "reset_password", write=True)
        rep = await json_of(request)
        with state.lock:
            admin.reset_password(state, request.path_params["id"], rep if isinstance(rep, dict) else {})
        return Response(status_code=204)

    @endpoint(state, "execute_actions_email", admin_api=True)
    async def execute_actions_email(request: Request) -> Response:
        require_admin(state, request, "execute_actions_email", write=True)
        actions = await json_of(request)
        if not isinstance(actions, list):
            raise KeycloakError(400, {"error": "unknown_error"})
        with state.lock:
            admin.send_actions_email(state, request.path_params["id"], actions, dict(request.query_params))
        return Response(status_code=204)

    @endpoint(state, "send_verify_email", admin_api=True)
    async def send_verify_email(request: Request) -> Response:
        require_admin(state, request, "send_verify_email", write=True)
        params = dict(request.query_params)
        with state.lock:
            admin.send_actions_email(state, request.path_params["id"], ["VERIFY_EMAIL"], params)
        return Response(status_code=204)

    @endpoint(state, "get_sessions", admin_api=True)
    async def user_sessions(request: Request) -> Response:
        require_admin(state, request, "get_sessions", write=False)
        with state.lock:
            user = admin.get_user(state, request.path_params["id"])
            ids = [s.id for s in list(state.sessions.values()) if s.user_id == user.id]
            live = [i for i in ids if state.live_session(i) is not None]
            return json_response([admin.session_representation(state, i) for i in live])

    @endpoint(state, "logout_user", admin_api=True)
    async def logout_user(request: Request) -> Response:
        require_admin(state, request, "logout_user", write=True)
        with state.lock:
            state.end_sessions_of(admin.get_user(state, request.path_params["id"]).id)
        return Response(status_code=204)

    @endpoint(state, "delete_session", admin_api=True)
    async def delete_session(request: Request) -> Response:
        require_admin(state, request, "delete_session", write=True)
        with state.lock:
            if state.sessions.pop(request.path_params["sid"], None) is None:
                raise admin.not_found("Sesssion not found")  # sic: Keycloak's own spelling
        return Response(status_code=204)

    @endpoint(state, "brute_force", admin_api=True)
    async def brute_force(request: Request) -> Response:
        require_admin(state, request, "brute_force", write=request.method == "DELETE")
        with state.lock:
            user_id = request.path_params["id"]
            if request.method == "DELETE":
                state.login_failures.pop(user_id, None)
                return Response(status_code=204)
            failures = state.login_failures.get(user_id)
            disabled = oidc.brute_force_locked(state, state.users[user_id]) if user_id in state.users else False
            return json_response({
                "numFailures": failures.num_failures if failures else 0, "disabled": disabled,
                "lastIPFailure": failures.last_ip if failures else "n/a",
                "lastFailure": failures.last_failure_ms if failures else 0,
            })  # fmt: skip

    return [
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

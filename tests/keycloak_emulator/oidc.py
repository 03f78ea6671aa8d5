"""The OpenID Connect endpoints' rules (token, logout, revoke, introspect, userinfo), with Keycloak
24's status codes and error bodies. Every function runs under the state lock."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import unquote

from tests.keycloak_emulator.realm import Client
from tests.keycloak_emulator.state import (
    ClientSession,
    EmulatorState,
    LoginFailures,
    Session,
    User,
    check_password,
    oauth_error,
)
from tests.keycloak_emulator.tokens import apply_mappers, issue_tokens, userinfo_claims

_INVALID_CREDENTIALS = "Invalid user credentials"


def authenticate_client(state: EmulatorState, form: dict[str, str], authorization: str | None) -> Client:
    """Keycloak's client-secret authenticator: Basic header or client_id/client_secret form fields."""
    client_id, secret = None, None
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
            client_id, _, secret = (unquote(p) for p in decoded.partition(":"))
        except (binascii.Error, UnicodeDecodeError):
            client_id = None
    client_id = form.get("client_id", client_id)
    secret = form.get("client_secret", secret)
    if not client_id:
        raise oauth_error(400, "invalid_client", "Missing client_id parameter")
    client = state.realm.clients.get(client_id)
    if client is None or not client.enabled:
        raise oauth_error(401, "invalid_client", "Invalid client or Invalid client credentials")
    if client.public:
        return client
    if not secret or client.secret is None or secret != client.secret:
        raise oauth_error(401, "unauthorized_client", "Invalid client or Invalid client credentials")
    return client


def _find_login_user(state: EmulatorState, username: str) -> User | None:
    # KeycloakModelUtils.findUserByNameOrEmail: an "@" tries the e-mail first when login with e-mail is on.
    if state.realm.setting("loginWithEmailAllowed", True) and "@" in username:
        user = state.find_user(email=username)
        if user is not None:
            return user
    return state.find_user(username=username)


def brute_force_locked(state: EmulatorState, user: User) -> bool:
    if not state.realm.setting("bruteForceProtected", False):
        return False
    failures = state.login_failures.get(user.id)
    if failures is None:
        return False
    if state.realm.setting("permanentLockout", False) and failures.num_failures >= state.realm.setting(
        "failureFactor", 30
    ):
        return True
    return failures.not_before > int(state.clock.now())


def _record_failure(state: EmulatorState, user: User, ip: str) -> None:
    """DefaultBruteForceProtector.failure, including the quick-login check."""
    if not state.realm.setting("bruteForceProtected", False):
        return
    realm = state.realm
    now_ms = int(state.clock.now() * 1000)
    failures = state.login_failures.setdefault(user.id, LoginFailures())
    last = failures.last_failure_ms
    delta = now_ms - last if last > 0 else 0
    failures.last_failure_ms, failures.last_ip = now_ms, ip
    if delta > 0 and delta > int(realm.setting("maxDeltaTimeSeconds", 43200)) * 1000:
        failures.num_failures = 0
    failures.num_failures += 1
    wait = int(realm.setting("waitIncrementSeconds", 60)) * (
        failures.num_failures // int(realm.setting("failureFactor", 30))
    )
    if wait == 0 and last > 0 and delta < int(realm.setting("quickLoginCheckMilliSeconds", 1000)):
        wait = int(realm.setting("minimumQuickLoginWaitSeconds", 60))
    if wait > 0:
        wait = min(int(realm.setting("maxFailureWaitSeconds", 900)), wait)
        failures.not_before = now_ms // 1000 + wait


def _profile_incomplete(state: EmulatorState, user: User) -> bool:
    values = {"username": user.username, "email": user.email, "firstName": user.first_name,
              "lastName": user.last_name}  # fmt: skip
    for name in state.realm.profile_required_for_user():
        if name in values:
            if not values[name]:
                return True
        elif not user.attributes.get(name):
            return True
    return False


def password_grant(state: EmulatorState, client: Client, form: dict[str, str], ip: str) -> dict[str, Any]:
    if not client.direct_access_grants:
        raise oauth_error(400, "unauthorized_client", "Client not allowed for direct access grants")
    username = form.get("username")
    if not username:
        raise oauth_error(401, "invalid_request", "Missing parameter: username")
    user = _find_login_user(state, username)
    if user is None or user.service_account_client is not None:
        raise oauth_error(401, "invalid_grant", _INVALID_CREDENTIALS)
    # ValidateUsername: a locked-out or disabled account is refused before the password is looked at.
    if brute_force_locked(state, user):
        raise oauth_error(400, "invalid_grant", _INVALID_CREDENTIALS)
    if not user.enabled:
        raise oauth_error(400, "invalid_grant", "Account disabled")
    if not check_password(user.password_hash, form.get("password", "")):
        _record_failure(state, user, ip)
        raise oauth_error(401, "invalid_grant", _INVALID_CREDENTIALS)
    state.login_failures.pop(user.id, None)
    # Required-action triggers run only after a correct password (VerifyEmail.evaluateTriggers persists it).
    needs_verification = state.realm.setting("verifyEmail", False) and not user.email_verified and user.email
    if needs_verification and "VERIFY_EMAIL" not in user.required_actions:
        user.required_actions.append("VERIFY_EMAIL")
    if user.required_actions or _profile_incomplete(state, user):
        raise oauth_error(400, "invalid_grant", "Account is not fully set up")
    now = state.clock.now()
    session = Session(id=str(uuid.uuid4()), user_id=user.id, ip_address=ip, started=now, last_refresh=now)
    state.sessions[session.id] = session
    return issue_tokens(state, client, user, session, form.get("scope", ""))


def client_credentials_grant(state: EmulatorState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if client.public:
        raise oauth_error(400, "unauthorized_client", "Public client not allowed to retrieve service account")
    if not client.service_accounts:
        raise oauth_error(400, "unauthorized_client", "Client not enabled to retrieve service account")
    user = next((u for u in state.users.values() if u.service_account_client == client.client_id), None)
    if user is None or not user.enabled:
        raise oauth_error(400, "invalid_request", "User not found or disabled")
    # Keycloak 24 issues no refresh token for client credentials (use.refresh.tokens.for.client.credentials.grant).
    return issue_tokens(state, client, user, None, form.get("scope", ""), refresh=False)


def _decode_refresh(state: EmulatorState, client: Client, token: str | None, *, check_expiry: bool) -> dict[str, Any]:
    """TokenManager.verifyRefreshToken."""
    claims = state.keys.verify(token) if token else None
    if claims is None or claims.get("typ") not in ("Refresh", "Offline"):
        raise oauth_error(400, "invalid_grant", "Invalid refresh token")
    if check_expiry and claims.get("exp", 0) and claims["exp"] < state.clock.now():
        raise oauth_error(400, "invalid_grant", "Token is not active")
    if claims.get("azp") != client.client_id:
        raise oauth_error(400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match")
    return claims


def _check_reuse(state: EmulatorState, claims: dict[str, Any], client_session: ClientSession) -> None:
    """TokenManager's refresh-token reuse rules when the realm revokes refresh tokens."""
    if claims.get("iat", 0) < client_session.timestamp:
        raise oauth_error(400, "invalid_grant", "Stale token")
    if claims.get("jti") != client_session.current_refresh_jti:
        client_session.current_refresh_jti, client_session.refresh_reuse = claims.get("jti"), 0
    if client_session.refresh_reuse > int(state.realm.setting("refreshTokenMaxReuse", 0)):
        raise oauth_error(400, "invalid_grant", "Maximum allowed refresh token reuse exceeded")
    client_session.refresh_reuse += 1


def refresh_grant(state: EmulatorState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if "refresh_token" not in form:
        raise oauth_error(400, "invalid_request", "Missing parameter: refresh_token")
    claims = _decode_refresh(state, client, form["refresh_token"], check_expiry=True)
    session = state.live_session(claims.get("sid") or claims.get("session_state"))
    if session is None:
        raise oauth_error(400, "invalid_grant", "Session not active")
    user = state.users.get(session.user_id)
    if user is None:
        raise oauth_error(400, "invalid_grant", "Invalid refresh token")
    if not user.enabled:
        raise oauth_error(400, "invalid_grant", "User disabled")
    if claims.get("iat", 0) < int(session.started):
        raise oauth_error(400, "invalid_grant", "Refresh toked issued before the user session started")
    client_session = session.clients.get(client.client_id)
    if client_session is None:
        raise oauth_error(400, "invalid_grant", "Session doesn't have required client")
    if state.realm.setting("revokeRefreshToken", False):
        _check_reuse(state, claims, client_session)
    session.last_refresh = state.clock.now()
    return issue_tokens(state, client, user, session, claims.get("scope", ""))


def logout(state: EmulatorState, client: Client, form: dict[str, str]) -> None:
    """LogoutEndpoint.logoutToken: an already ended session is not an error."""
    if "refresh_token" not in form:
        raise oauth_error(400, "invalid_request", "No refresh token")
    claims = _decode_refresh(state, client, form["refresh_token"], check_expiry=False)
    state.sessions.pop(claims.get("sid") or claims.get("session_state") or "", None)


def revoke(state: EmulatorState, client: Client, form: dict[str, str]) -> dict[str, Any] | None:
    """TokenRevocationEndpoint (RFC 7009). Revoking a refresh token detaches the client from every session
    of that user, and ends each session left without clients, as Keycloak does."""
    token = form.get("token")
    if not token:
        raise oauth_error(400, "invalid_request", "Token not provided")
    claims = state.keys.verify(token)
    if claims is None or claims.get("exp", 0) < state.clock.now():
        return {"error": "invalid_token", "error_description": "Invalid token"}  # Keycloak answers 200 here
    if claims.get("typ") not in ("Refresh", "Offline", "Bearer"):
        raise oauth_error(400, "unsupported_token_type", "Unsupported token type")
    if claims.get("azp") != client.client_id:
        raise oauth_error(400, "invalid_request", "Unmatching clients")
    if claims["typ"] == "Bearer":
        state.revoked_access_jtis.add(claims.get("jti", ""))
        return None
    for session in [s for s in state.sessions.values() if s.user_id == claims.get("sub")]:
        session.clients.pop(client.client_id, None)
        if not session.clients:
            del state.sessions[session.id]
    return None


def active_token(state: EmulatorState, token: str | None) -> tuple[dict[str, Any], User] | None:
    """The claims and user of an access token Keycloak would still honour, else None."""
    claims = state.keys.verify(token) if token else None
    if claims is None or claims.get("typ") != "Bearer" or claims.get("iss") != state.issuer:
        return None
    if claims.get("exp", 0) < state.clock.now() or claims.get("jti") in state.revoked_access_jtis:
        return None
    user = state.users.get(claims.get("sub", ""))
    if user is None or not user.enabled:
        return None
    if user.service_account_client is None and state.live_session(claims.get("sid")) is None:
        return None
    return claims, user


def introspect(state: EmulatorState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if client.public:
        raise oauth_error(403, "invalid_request", "Client not allowed.")
    token = form.get("token")
    if not token:
        raise oauth_error(400, "invalid_request", "Token not provided.")
    claims = state.keys.verify(token)
    if claims is not None and claims.get("typ") in ("Refresh", "Offline"):
        session = state.live_session(claims.get("sid"))
        if session is None or claims.get("exp", 0) < state.clock.now():
            return {"active": False}
        return claims | {"client_id": claims.get("azp"), "token_type": claims["typ"], "active": True}
    found = active_token(state, token)
    if found is None:
        return {"active": False}
    claims, user = found
    result = dict(claims)
    issuing_client = state.realm.clients.get(claims.get("azp", ""))
    if issuing_client is not None:
        apply_mappers(result, issuing_client, user, "introspection")
    return result | {"client_id": claims.get("azp"), "username": user.username, "token_type": "Bearer",
                     "active": True}  # fmt: skip


def userinfo(state: EmulatorState, token: str | None) -> dict[str, Any]:
    found = active_token(state, token)
    if found is None:
        raise oauth_error(401, "invalid_token", "Token verification failed")
    claims, user = found
    return userinfo_claims(state, state.realm.clients[claims["azp"]], user)

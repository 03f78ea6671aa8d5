"""The admin REST API's user resources, with Keycloak 24's rules: lower-cased usernames and e-mails,
409s, user-profile validation, merge-on-update and unmanaged attributes dropped. Runs under the lock."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.keycloak_emulator.state import EmulatorState, KeycloakError, User, hash_password

_KNOWN_ACTIONS = ("VERIFY_EMAIL", "UPDATE_PASSWORD", "UPDATE_PROFILE", "CONFIGURE_TOTP", "TERMS_AND_CONDITIONS",
                  "VERIFY_PROFILE", "delete_account", "update_user_locale", "webauthn-register")  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ROOT_ATTRIBUTES = ("username", "email", "firstName", "lastName")


def error_message(status: int, message: str) -> KeycloakError:
    return KeycloakError(status, {"errorMessage": message})


def not_found(message: str = "User not found") -> KeycloakError:
    return KeycloakError(404, {"error": message})


def representation(user: User, *, brief: bool = False) -> dict[str, Any]:
    rep: dict[str, Any] = {"id": user.id, "username": user.username}
    for key, value in (("firstName", user.first_name), ("lastName", user.last_name), ("email", user.email)):
        if value is not None:
            rep[key] = value
    rep["emailVerified"] = user.email_verified
    if not brief and user.attributes:
        rep["attributes"] = {k: list(v) for k, v in user.attributes.items()}
    rep |= {"createdTimestamp": user.created_ms, "enabled": user.enabled, "totp": False}
    if not brief:
        rep |= {"disableableCredentialTypes": [], "requiredActions": list(user.required_actions), "notBefore": 0}
        rep["access"] = {"manageGroupMembership": True, "view": True, "mapRoles": True, "impersonate": False,
                         "manage": True}  # fmt: skip
    if user.service_account_client:
        rep["serviceAccountClientId"] = user.service_account_client
    return rep


def _managed_attributes(state: EmulatorState, attributes: dict[str, Any]) -> dict[str, list[str]]:
    # Keycloak 24: with no unmanagedAttributePolicy, attributes the user profile does not declare are dropped.
    declared = state.realm.profile_attributes
    keep_all = state.realm.unmanaged_attribute_policy in ("ENABLED", "ADMIN_EDIT")
    result: dict[str, list[str]] = {}
    for name, values in attributes.items():
        if name in _ROOT_ATTRIBUTES or (name not in declared and not keep_all):
            continue
        listed = values if isinstance(values, list) else [values]
        cleaned = [str(v) for v in listed if v is not None and str(v) != ""]
        if cleaned:
            result[name] = cleaned
    return result


def _validate(state: EmulatorState, username: str | None, email: str | None) -> None:
    rules = state.realm.profile_attributes.get("username", {}).get("validations", {}).get("length", {})
    if username is not None:
        low, high = int(rules.get("min", 1)), int(rules.get("max", 255))
        if not low <= len(username) <= high:
            raise KeycloakError(400, {"field": "username", "errorMessage": "error-invalid-length",
                                      "params": ["username", low, high]})  # fmt: skip
    if email and not _EMAIL.match(email):
        raise KeycloakError(400, {"field": "email", "errorMessage": "error-invalid-email", "params": ["email", email]})


def _set_password(user: User, credential: dict[str, Any]) -> None:
    if credential.get("type", "password") != "password":
        return
    value = credential.get("value")
    if not value:
        raise error_message(400, "Password is missing")
    user.password_hash = hash_password(str(value))
    if credential.get("temporary"):
        if "UPDATE_PASSWORD" not in user.required_actions:
            user.required_actions.append("UPDATE_PASSWORD")
    elif "UPDATE_PASSWORD" in user.required_actions:
        user.required_actions.remove("UPDATE_PASSWORD")


def create_user(state: EmulatorState, rep: dict[str, Any]) -> str:
    email = (rep.get("email") or "").strip().lower() or None
    username = email if state.realm.setting("registrationEmailAsUsername", False) else rep.get("username")
    if not username or not str(username).strip():
        raise error_message(400, "User name is missing")
    username = str(username).strip().lower()
    if state.find_user(username=username) is not None:
        raise error_message(409, "User exists with same username")
    if email and not state.realm.setting("duplicateEmailsAllowed", False) and state.find_user(email=email):
        raise error_message(409, "User exists with same email")
    _validate(state, username, email)
    user = User(
        id=str(uuid.uuid4()), username=username, email=email, first_name=rep.get("firstName"),
        last_name=rep.get("lastName"), enabled=bool(rep.get("enabled", False)),
        email_verified=bool(rep.get("emailVerified", False)),
        attributes=_managed_attributes(state, rep.get("attributes") or {}),
        required_actions=list(rep.get("requiredActions") or []), created_ms=int(state.clock.now() * 1000),
        realm_roles=list(rep.get("realmRoles") or []),
    )  # fmt: skip
    for credential in rep.get("credentials") or []:
        _set_password(user, credential)
    state.users[user.id] = user
    return user.id


def get_user(state: EmulatorState, user_id: str) -> User:
    user = state.users.get(user_id)
    if user is None:
        raise not_found()
    return user


def update_user(state: EmulatorState, user_id: str, rep: dict[str, Any]) -> None:
    user = get_user(state, user_id)
    if "username" in rep and rep["username"] is not None and str(rep["username"]).lower() != user.username:
        if not state.realm.setting("editUsernameAllowed", False):
            raise KeycloakError(400, {"field": "username", "errorMessage": "error-user-attribute-read-only",
                                      "params": ["username"]})  # fmt: skip
        if state.find_user(username=rep["username"]) is not None:
            raise error_message(409, "User exists with same username")
        user.username = str(rep["username"]).lower()
    if "email" in rep:
        email = (rep.get("email") or "").strip().lower() or None
        other = state.find_user(email=email) if email else None
        if other is not None and other.id != user.id and not state.realm.setting("duplicateEmailsAllowed", False):
            raise error_message(409, "User exists with same email")
        _validate(state, None, email)
        user.email = email
    if "firstName" in rep:
        user.first_name = rep["firstName"]
    if "lastName" in rep:
        user.last_name = rep["lastName"]
    if rep.get("enabled") is not None:
        user.enabled = bool(rep["enabled"])
    if rep.get("emailVerified") is not None:
        user.email_verified = bool(rep["emailVerified"])
    if rep.get("attributes") is not None:
        user.attributes = _managed_attributes(state, rep["attributes"])
    if rep.get("requiredActions") is not None:
        user.required_actions = list(rep["requiredActions"])
    for credential in rep.get("credentials") or []:
        _set_password(user, credential)


def reset_password(state: EmulatorState, user_id: str, credential: dict[str, Any]) -> None:
    user = get_user(state, user_id)
    if credential.get("value") is None:
        raise KeycloakError(400, {"error": "No password provided"})
    if not str(credential["value"]).strip():
        raise KeycloakError(400, {"error": "Empty password not allowed"})
    _set_password(user, credential)


def send_actions_email(
    state: EmulatorState, user_id: str, actions: list[str], params: dict[str, str]
) -> dict[str, Any]:
    user = get_user(state, user_id)
    if not user.email:
        raise error_message(400, "User email missing")
    if not user.enabled:
        raise error_message(400, "User is disabled")
    if params.get("redirect_uri") and not params.get("client_id"):
        raise error_message(400, "Client id missing")
    if params.get("client_id") and params["client_id"] not in state.realm.clients:
        raise error_message(400, "Client doesn't exist")
    if any(a not in _KNOWN_ACTIONS for a in actions):
        raise error_message(400, "Provided invalid required actions")
    mail = {
        "user_id": user.id, "email": user.email, "actions": list(actions),
        "lifespan": int(params.get("lifespan") or 43200), "client_id": params.get("client_id"),
        "redirect_uri": params.get("redirect_uri"), "sent_at": state.clock.now(),
    }  # fmt: skip
    state.action_emails.append(mail)
    return mail


def _matches(value: str | None, wanted: str, exact: bool) -> bool:
    if value is None:
        return False
    return value.lower() == wanted.lower() if exact else wanted.lower() in value.lower()


def _search_matches(user: User, search: str) -> bool:
    # JpaUserProvider: each word must match username, e-mail, first or last name; prefix by default,
    # "*" is a wildcard and "quotes" ask for an exact match.
    fields = [user.username, user.email, user.first_name, user.last_name]
    for word in search.split():
        word = word.lower()
        if len(word) >= 2 and word[0] == word[-1] == '"':
            ok = any(f is not None and f.lower() == word[1:-1] for f in fields)
        else:
            pattern = "^" + ".*".join(re.escape(p) for p in word.split("*")) + ".*$"
            ok = any(f is not None and re.match(pattern, f.lower()) for f in fields)
        if not ok:
            return False
    return True


# UsersResource.getUsers lists service accounts only when one of these filters is given (and no `search`).
_FILTERS_WITH_SERVICE_ACCOUNTS = ("lastName", "firstName", "email", "username", "emailVerified", "idpAlias",
                                  "idpUserId", "enabled", "exact", "q")  # fmt: skip


def search_users(state: EmulatorState, params: dict[str, str]) -> list[User]:
    """GET users and users/count: the same filters, and the same rule for service accounts."""
    exact = params.get("exact", "false").lower() == "true"
    with_service_accounts = "search" not in params and any(k in params for k in _FILTERS_WITH_SERVICE_ACCOUNTS)
    found = []
    for user in state.users.values():
        if user.service_account_client is not None and not with_service_accounts:
            continue
        search = params.get("search")
        if search and search.strip() != "*" and not _search_matches(user, search):
            continue
        fields = {"username": user.username, "email": user.email, "firstName": user.first_name,
                  "lastName": user.last_name}  # fmt: skip
        if any(key in params and not _matches(value, params[key], exact) for key, value in fields.items()):
            continue
        if "enabled" in params and user.enabled != (params["enabled"].lower() == "true"):
            continue
        if "emailVerified" in params and user.email_verified != (params["emailVerified"].lower() == "true"):
            continue
        if params.get("idpAlias") or params.get("idpUserId"):
            continue
        query_ok = True
        for pair in (params.get("q") or "").split():
            key, _, value = pair.partition(":")
            if not any(v.lower() == value.lower() for v in user.attributes.get(key, [])):
                query_ok = False
        if query_ok:
            found.append(user)
    return sorted(found, key=lambda u: u.username)


def session_representation(state: EmulatorState, session_id: str) -> dict[str, Any]:
    session = state.sessions[session_id]
    user = state.users[session.user_id]
    clients = {state.realm.clients[c].uuid: c for c in session.clients if c in state.realm.clients}
    return {
        "id": session.id, "username": user.username, "userId": user.id, "ipAddress": session.ip_address,
        "start": int(session.started * 1000), "lastAccess": int(session.last_refresh * 1000),
        "rememberMe": False, "clients": clients, "transientUser": False,
    }  # fmt: skip

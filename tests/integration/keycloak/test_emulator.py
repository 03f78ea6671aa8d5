"""The Keycloak emulator speaks Keycloak 24's REST API well enough for python-keycloak's async clients:
success bodies, status codes and error bodies, sessions, expiry and key rotation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from keycloak import KeycloakAdmin, KeycloakOpenID
from keycloak.exceptions import (
    KeycloakAuthenticationError,
    KeycloakError,
    KeycloakGetError,
    KeycloakPostError,
    KeycloakPutError,
)

from tests.keycloak_emulator import KeycloakEmulator
from tests.keycloak_emulator.realm import EXPORT_PATH

PASSWORD = "correct horse battery"
CLAIMS = {"user_id": ["USR-1"], "roles": ["user", "operator"], "company_id": ["CMP-1"]}


async def _create(admin: KeycloakAdmin, email: str = "ada@example.com", **fields: Any) -> str:
    rep = {
        "username": email, "email": email, "enabled": True, "emailVerified": True, "attributes": CLAIMS,
        "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
    } | fields  # fmt: skip
    return await admin.a_create_user(rep)


async def _token_error(call: Any) -> tuple[int, dict[str, Any]]:
    # python-keycloak raises KeycloakAuthenticationError on a 401 and KeycloakPostError on other statuses.
    with pytest.raises(KeycloakError) as caught:
        await call
    return caught.value.response_code, json.loads(caught.value.response_body)


def _form(keycloak: KeycloakEmulator, **fields: str) -> httpx.Response:
    url = f"{keycloak.url}/realms/{keycloak.realm}/protocol/openid-connect/token"
    return httpx.post(url, data=fields)


async def test_discovery_names_the_realm_endpoints(keycloak: KeycloakEmulator, keycloak_openid: KeycloakOpenID) -> None:
    document = await keycloak_openid.a_well_known()

    base = f"{keycloak.url}/realms/myrealm/protocol/openid-connect"
    assert document["issuer"] == keycloak.issuer == f"{keycloak.url}/realms/myrealm"
    assert document["jwks_uri"] == f"{base}/certs"
    assert document["token_endpoint"] == f"{base}/token"
    assert document["end_session_endpoint"] == f"{base}/logout"
    assert document["revocation_endpoint"] == f"{base}/revoke"
    assert document["introspection_endpoint"] == f"{base}/token/introspect"
    assert document["userinfo_endpoint"] == f"{base}/userinfo"


async def test_certs_publish_rs256_signing_keys_and_count_fetches(
    keycloak: KeycloakEmulator, keycloak_openid: KeycloakOpenID
) -> None:
    keys = (await keycloak_openid.a_certs())["keys"]

    assert [(k["kid"], k["kty"], k["alg"], k["use"]) for k in keys] == [(keycloak.active_kid, "RSA", "RS256", "sig")]
    assert keys[0]["n"] and keys[0]["e"] == "AQAB"
    assert keycloak.jwks_fetches == keycloak.counts["jwks_fetches"] == 1


async def test_a_rotated_key_signs_new_tokens_and_the_old_stays_published_until_retired(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    old_kid = keycloak.active_kid

    new_kid = keycloak.rotate_key()
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)

    assert jwt.get_unverified_header(token["access_token"])["kid"] == new_kid
    assert {k["kid"] for k in (await keycloak_openid.a_certs())["keys"]} == {old_kid, new_kid}
    newest = keycloak.rotate_key(retire_old=True)
    assert [k["kid"] for k in (await keycloak_openid.a_certs())["keys"]] == [newest]


async def test_another_realm_is_not_found(keycloak: KeycloakEmulator) -> None:
    async with httpx.AsyncClient() as http:
        oidc = await http.get(f"{keycloak.url}/realms/other/protocol/openid-connect/certs")
        admin = await http.get(f"{keycloak.url}/admin/realms/other/users")

    assert oidc.status_code == admin.status_code == 404


async def test_password_grant_returns_keycloaks_token_response_and_mapped_claims(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin, firstName="Ada", lastName="Lovelace")

    token = await keycloak_openid.a_token("ADA@example.com", PASSWORD)

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 300 and token["refresh_expires_in"] == 1800
    assert token["scope"] == "openid profile email" and token["not-before-policy"] == 0
    jwks = jwt.PyJWKSet.from_dict(await keycloak_openid.a_certs())
    header = jwt.get_unverified_header(token["access_token"])
    access = jwt.decode(token["access_token"], jwks[header["kid"]].key, algorithms=["RS256"], audience="auth-client")
    assert access["iss"] == keycloak.issuer and access["sub"] == user_id
    assert access["typ"] == "Bearer" and access["azp"] == "auth-client"
    assert access["sid"] == access["session_state"] == token["session_state"]
    assert set(access["aud"]) == {"account", "auth-client"}
    assert (access["email"], access["email_verified"], access["preferred_username"]) == (
        "ada@example.com", True, "ada@example.com",
    )  # fmt: skip
    assert (access["given_name"], access["family_name"]) == ("Ada", "Lovelace")
    assert (access["user_id"], access["roles"], access["company_id"]) == ("USR-1", ["user", "operator"], "CMP-1")
    assert "network_id" not in access and "station_id" not in access
    assert "default-roles-myrealm" in access["realm_access"]["roles"]
    identity = jwt.decode(token["id_token"], jwks[header["kid"]].key, algorithms=["RS256"], audience="auth-client")
    assert (identity["typ"], identity["azp"], identity["sid"]) == ("ID", "auth-client", access["sid"])
    assert identity["roles"] == ["user", "operator"]
    assert jwt.get_unverified_header(token["refresh_token"])["alg"] == "HS512"
    assert jwt.decode(token["refresh_token"], options={"verify_signature": False})["typ"] == "Refresh"
    assert keycloak.sessions_of(user_id)[0]["id"] == access["sid"]


async def test_no_id_token_without_the_openid_scope(
    keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)

    token = await keycloak_openid.a_token("ada@example.com", PASSWORD, scope="profile")

    assert "id_token" not in token


async def test_unknown_user_and_wrong_password_are_the_same_401(
    keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)

    unknown = await _token_error(keycloak_openid.a_token("nobody@example.com", PASSWORD))
    wrong = await _token_error(keycloak_openid.a_token("ada@example.com", "wrong password"))

    expected = (401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
    assert unknown == wrong == expected


async def test_pending_email_verification_is_told_only_after_the_correct_password(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin, emailVerified=False, requiredActions=["VERIFY_EMAIL"])

    wrong = await _token_error(keycloak_openid.a_token("ada@example.com", "wrong password"))
    right = await _token_error(keycloak_openid.a_token("ada@example.com", PASSWORD))

    assert wrong[0] == 401
    assert right == (400, {"error": "invalid_grant", "error_description": "Account is not fully set up"})


async def test_an_unverified_email_alone_blocks_login_because_the_realm_verifies_email(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin, emailVerified=False)

    status, body = await _token_error(keycloak_openid.a_token("ada@example.com", PASSWORD))

    assert (status, body["error_description"]) == (400, "Account is not fully set up")
    assert keycloak.user_by_email("ada@example.com")["requiredActions"] == ["VERIFY_EMAIL"]


async def test_a_disabled_account_is_told_before_the_password_is_checked(
    keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin, enabled=False)

    status, body = await _token_error(keycloak_openid.a_token("ada@example.com", "wrong password"))

    assert (status, body) == (400, {"error": "invalid_grant", "error_description": "Account disabled"})


async def test_two_quick_failures_lock_the_account_until_the_wait_is_over(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    for _ in range(2):
        await _token_error(keycloak_openid.a_token("ada@example.com", "wrong password"))

    locked = await _token_error(keycloak_openid.a_token("ada@example.com", PASSWORD))
    keycloak.advance(61)

    assert locked == (400, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
    assert "access_token" in await keycloak_openid.a_token("ada@example.com", PASSWORD)


def test_client_authentication_errors_are_keycloaks(keycloak: KeycloakEmulator) -> None:
    wrong_secret = _form(keycloak, grant_type="client_credentials", client_id="backend-admin", client_secret="x")
    unknown = _form(keycloak, grant_type="client_credentials", client_id="nope", client_secret="x")
    no_direct_grants = _form(
        keycloak, grant_type="password", client_id="backend-admin",
        client_secret=keycloak.client_secret("backend-admin") or "", username="a", password="b",
    )  # fmt: skip

    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "unauthorized_client")
    assert wrong_secret.json()["error_description"] == "Invalid client or Invalid client credentials"
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    assert (no_direct_grants.status_code, no_direct_grants.json()["error"]) == (400, "unauthorized_client")


def test_client_credentials_with_basic_auth_carry_the_service_account_roles(keycloak: KeycloakEmulator) -> None:
    url = f"{keycloak.url}/realms/myrealm/protocol/openid-connect/token"
    secret = keycloak.client_secret("backend-admin") or ""

    response = httpx.post(url, data={"grant_type": "client_credentials"}, auth=("backend-admin", secret))

    assert response.status_code == 200 and "refresh_token" not in response.json()
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["preferred_username"] == "service-account-backend-admin"
    assert {"manage-users", "view-users", "query-users"} <= set(claims["resource_access"]["realm-management"]["roles"])


async def test_a_refresh_keeps_the_session_and_does_not_rotate_the_refresh_token(
    keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    first = await keycloak_openid.a_token("ada@example.com", PASSWORD)

    second = await keycloak_openid.a_refresh_token(first["refresh_token"])
    again = await keycloak_openid.a_refresh_token(first["refresh_token"])

    assert second["session_state"] == again["session_state"] == first["session_state"]
    assert second["access_token"] != first["access_token"] and "id_token" in second


async def test_refresh_after_logout_says_session_not_active(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)

    assert await keycloak_openid.a_logout(token["refresh_token"]) == {}
    refused = await _token_error(keycloak_openid.a_refresh_token(token["refresh_token"]))

    assert refused == (400, {"error": "invalid_grant", "error_description": "Session not active"})
    assert keycloak.sessions_of(user_id) == []
    assert await keycloak_openid.a_logout(token["refresh_token"]) == {}  # an ended session is no error


async def test_bad_and_foreign_refresh_tokens_are_invalid_grants(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)
    secret = keycloak.client_secret("backend-admin") or ""

    garbage = await _token_error(keycloak_openid.a_refresh_token("not-a-token"))
    logout = await _token_error(keycloak_openid.a_logout("not-a-token"))
    foreign = _form(keycloak, grant_type="refresh_token", refresh_token=token["refresh_token"],
                    client_id="backend-admin", client_secret=secret)  # fmt: skip

    assert garbage == logout == (400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
    assert (foreign.status_code, foreign.json()["error"]) == (400, "invalid_grant")


async def test_an_idle_session_ends_and_its_refresh_token_is_not_active(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    keycloak.set_lifespans(access=60, sso_idle=120)
    await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)

    keycloak.advance(121)
    refused = await _token_error(keycloak_openid.a_refresh_token(token["refresh_token"]))

    assert token["expires_in"] == 60 and token["refresh_expires_in"] == 120
    assert refused == (400, {"error": "invalid_grant", "error_description": "Token is not active"})


async def test_revoking_a_refresh_token_ends_the_session_and_introspection_sees_it(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)
    backend = KeycloakOpenID(keycloak.url, "myrealm", "backend-admin", keycloak.client_secret("backend-admin"))
    base = f"{keycloak.url}/realms/myrealm/protocol/openid-connect"

    before = await backend.a_introspect(token["access_token"])
    revoked = httpx.post(f"{base}/revoke", data={"client_id": "auth-client", "token": token["refresh_token"],
                                                 "token_type_hint": "refresh_token"})  # fmt: skip
    after = await backend.a_introspect(token["access_token"])
    await backend.connection.aclose()

    assert (before["active"], before["username"], before["user_id"]) == (True, "ada@example.com", "USR-1")
    assert revoked.status_code == 200
    assert after == {"active": False} and keycloak.sessions_of(user_id) == []


async def test_userinfo_and_a_revoked_access_token(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)
    base = f"{keycloak.url}/realms/myrealm/protocol/openid-connect"

    info = await keycloak_openid.a_userinfo(token["access_token"])
    public_introspection = httpx.post(f"{base}/token/introspect", data={"client_id": "auth-client", "token": "x"})
    revoked = httpx.post(f"{base}/revoke", data={"client_id": "auth-client", "token": token["access_token"]})
    after = httpx.get(f"{base}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})

    assert (info["email"], info["user_id"]) == ("ada@example.com", "USR-1")
    assert public_introspection.status_code == 403
    assert revoked.status_code == 200
    assert after.status_code == 401 and after.headers["www-authenticate"].startswith("Bearer")


async def test_created_users_are_found_by_exact_email_and_read_back(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin
) -> None:
    user_id = await _create(keycloak_admin, "Ada@Example.com", attributes=CLAIMS | {"undeclared": ["x"]})
    await _create(keycloak_admin, "ada.b@example.com")

    exact = await keycloak_admin.a_get_users({"email": "ADA@example.com", "exact": True})
    infix = await keycloak_admin.a_get_users({"email": "ada"})
    user = await keycloak_admin.a_get_user(user_id)

    assert [u["id"] for u in exact] == [user_id] and len(infix) == 2
    assert (user["username"], user["email"], user["enabled"]) == ("ada@example.com", "ada@example.com", True)
    assert user["attributes"] == CLAIMS  # the user profile does not declare "undeclared"
    assert "credentials" not in user and "password" not in str(user)
    assert await keycloak_admin.a_users_count() == 2


async def test_searching_paginates_and_queries_attributes(keycloak_admin: KeycloakAdmin) -> None:
    for name in ("amy", "bob", "cy"):
        await _create(keycloak_admin, f"{name}@example.com", attributes={"company_id": [name.upper()]})

    page = await keycloak_admin.a_get_users({"first": 1, "max": 1})
    by_attribute = await keycloak_admin.a_get_users({"q": "company_id:BOB"})
    by_prefix = await keycloak_admin.a_get_users({"search": "c"})

    assert [u["username"] for u in page] == ["bob@example.com"]
    assert [u["username"] for u in by_attribute] == ["bob@example.com"]
    assert [u["username"] for u in by_prefix] == ["cy@example.com"]


async def test_service_accounts_are_listed_only_when_a_field_is_filtered(keycloak_admin: KeycloakAdmin) -> None:
    await _create(keycloak_admin)

    everyone = await keycloak_admin.a_get_users({"first": 0, "max": 10})
    service = await keycloak_admin.a_get_users({"username": "service-account-backend-admin", "exact": True})

    assert [u["username"] for u in everyone] == ["ada@example.com"]
    assert [u["username"] for u in service] == ["service-account-backend-admin"]
    assert await keycloak_admin.a_users_count() == 1


async def test_duplicates_are_409_with_keycloaks_messages(keycloak: KeycloakEmulator,
                                                          keycloak_admin: KeycloakAdmin) -> None:  # fmt: skip
    await _create(keycloak_admin)

    with pytest.raises(KeycloakPostError) as same_username:
        await _create(keycloak_admin, email="other@example.com", username="ADA@example.com")
    with pytest.raises(KeycloakPostError) as same_email:
        await _create(keycloak_admin, email="ADA@example.com", username="other")

    assert same_username.value.response_code == same_email.value.response_code == 409
    assert same_username.value.response_body == b'{"errorMessage":"User exists with same username"}'
    assert same_email.value.response_body == b'{"errorMessage":"User exists with same email"}'


async def test_a_user_without_username_is_a_400(keycloak_admin: KeycloakAdmin) -> None:
    with pytest.raises(KeycloakPostError) as caught:
        await keycloak_admin.a_create_user({"email": "ada@example.com", "enabled": True})

    assert (caught.value.response_code, caught.value.response_body) == (400, b'{"errorMessage":"User name is missing"}')


async def test_an_update_merges_fields_replaces_attributes_and_refuses_a_taken_email(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin
) -> None:
    user_id = await _create(keycloak_admin, firstName="Ada")
    await _create(keycloak_admin, "bob@example.com")

    await keycloak_admin.a_update_user(user_id, {"attributes": {"station_id": ["ST-9"]}, "emailVerified": False})
    with pytest.raises(KeycloakPutError) as clash:
        await keycloak_admin.a_update_user(user_id, {"email": "bob@example.com"})

    user = keycloak.user_by_email("ada@example.com")
    assert user is not None and user["firstName"] == "Ada" and user["emailVerified"] is False
    assert user["attributes"] == {"station_id": ["ST-9"]}
    assert clash.value.response_code == 409


async def test_deleting_a_user_ends_its_sessions_and_then_it_is_not_found(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin)
    token = await keycloak_openid.a_token("ada@example.com", PASSWORD)

    await keycloak_admin.a_delete_user(user_id)

    with pytest.raises(KeycloakGetError) as caught:
        await keycloak_admin.a_get_user(user_id)
    assert (caught.value.response_code, caught.value.response_body) == (404, b'{"error":"User not found"}')
    refused = await _token_error(keycloak_openid.a_refresh_token(token["refresh_token"]))
    assert refused[1]["error_description"] == "Session not active"


async def test_reset_password_is_permanent_or_temporary(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin)

    await keycloak_admin.a_set_user_password(user_id, "a new password", temporary=False)
    assert "access_token" in await keycloak_openid.a_token("ada@example.com", "a new password")
    await keycloak_admin.a_set_user_password(user_id, "a temporary one")  # python-keycloak's default: temporary

    refused = await _token_error(keycloak_openid.a_token("ada@example.com", "a temporary one"))
    assert refused[1]["error_description"] == "Account is not fully set up"
    assert keycloak.user_by_email("ada@example.com")["requiredActions"] == ["UPDATE_PASSWORD"]


async def test_execute_actions_email_is_recorded(keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin) -> None:
    user_id = await _create(keycloak_admin)

    await keycloak_admin.a_send_update_account(user_id, ["UPDATE_PASSWORD"], client_id="auth-client", lifespan=600)

    [mail] = keycloak.action_emails
    assert (mail["user_id"], mail["email"], mail["actions"]) == (user_id, "ada@example.com", ["UPDATE_PASSWORD"])
    assert (mail["lifespan"], mail["client_id"]) == (600, "auth-client")


async def test_sessions_are_listed_and_ended_through_the_admin_api(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    user_id = await _create(keycloak_admin)
    first = await keycloak_openid.a_token("ada@example.com", PASSWORD)
    await keycloak_openid.a_token("ada@example.com", PASSWORD)

    sessions = await keycloak_admin.a_get_sessions(user_id)
    deleted = await keycloak_admin.connection.a_raw_delete(f"admin/realms/myrealm/sessions/{first['session_state']}")
    remaining = await keycloak_admin.a_get_sessions(user_id)
    await keycloak_admin.a_user_logout(user_id)

    assert len(sessions) == 2 and sessions[0]["userId"] == user_id
    assert list(sessions[0]["clients"].values()) == ["auth-client"]
    assert deleted.status_code == 204 and len(remaining) == 1
    assert keycloak.sessions_of(user_id) == []


async def test_admin_calls_need_a_live_token_with_the_manage_users_role(
    keycloak: KeycloakEmulator, keycloak_admin: KeycloakAdmin, keycloak_openid: KeycloakOpenID
) -> None:
    await _create(keycloak_admin)
    user_token = (await keycloak_openid.a_token("ada@example.com", PASSWORD))["access_token"]
    service = _form(keycloak, grant_type="client_credentials", client_id="backend-admin",
                    client_secret=keycloak.client_secret("backend-admin") or "").json()["access_token"]  # fmt: skip
    forged = keycloak.sign(jwt.decode(service, options={"verify_signature": False}), kid="unknown-kid")
    users = f"{keycloak.url}/admin/realms/myrealm/users"

    def get(token: str | None) -> httpx.Response:
        return httpx.get(users, headers={"Authorization": f"Bearer {token}"} if token else {})

    assert (get(None).status_code, get(None).json()) == (401, {"error": "HTTP 401 Unauthorized"})
    assert get(forged).status_code == 401
    assert (get(user_token).status_code, get(user_token).json()) == (403, {"error": "HTTP 403 Forbidden"})
    assert get(service).status_code == 200
    keycloak.advance(301)
    assert get(service).status_code == 401


async def test_python_keycloak_reports_a_401_it_cannot_recover_from(keycloak: KeycloakEmulator) -> None:
    openid = KeycloakOpenID(keycloak.url, "myrealm", "backend-admin", "wrong secret")

    with pytest.raises(KeycloakAuthenticationError):
        await openid.a_token(grant_type="client_credentials")
    await openid.connection.aclose()


async def test_injected_faults_fail_the_next_calls_only(keycloak: KeycloakEmulator,
                                                        keycloak_admin: KeycloakAdmin) -> None:  # fmt: skip
    keycloak.fail_next("create_user", status=503, times=1)

    with pytest.raises(KeycloakPostError) as caught:
        await _create(keycloak_admin)
    user_id = await _create(keycloak_admin)

    assert caught.value.response_code == 503
    assert keycloak.user_by_id(user_id) is not None and len(keycloak.users) == 1
    assert keycloak.counts["create_user"] == 2 and keycloak.counts["token:client_credentials"] == 1
    with pytest.raises(ValueError, match="unknown operation"):
        keycloak.fail_next("create_usr")


def test_reset_forgets_users_sessions_counters_and_keys(keycloak: KeycloakEmulator) -> None:
    seeded_kid = keycloak.active_kid
    keycloak.add_user("jit", email="jit@example.com", password=PASSWORD, attributes={"user_id": ["USR-9"]})
    keycloak.rotate_key()
    keycloak.fail_next("token")

    keycloak.reset()

    assert keycloak.users == [] and keycloak.counts == {} and keycloak.active_kid == seeded_kid
    assert (
        _form(keycloak, grant_type="password", client_id="auth-client", username="x", password="y").status_code == 401
    )


def test_a_user_seeded_directly_can_sign_in(keycloak: KeycloakEmulator) -> None:
    user_id = keycloak.add_user(email="Console@Example.com", password=PASSWORD, attributes={"roles": ["admin"]})

    response = _form(keycloak, grant_type="password", client_id="auth-client", username="console@example.com",
                     password=PASSWORD, scope="openid")  # fmt: skip

    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["roles"]) == (user_id, ["admin"])


def test_stop_is_prompt_and_leaves_no_thread() -> None:
    emulator = KeycloakEmulator().start()
    name = f"keycloak-emulator:{emulator.url.rsplit(':', 1)[1]}"
    with httpx.Client() as http:  # a kept-alive connection must not hold the shutdown up
        assert http.get(f"{emulator.url}/realms/myrealm/protocol/openid-connect/certs").status_code == 200
        assert any(t.name == name for t in threading.enumerate())
        started = time.monotonic()

        emulator.stop()

    assert time.monotonic() - started < 2
    assert not any(t.name == name for t in threading.enumerate())


async def test_a_realm_that_revokes_refresh_tokens_refuses_the_used_one(tmp_path: Path) -> None:
    export = json.loads(EXPORT_PATH.read_text(encoding="utf-8")) | {"revokeRefreshToken": True}
    (tmp_path / "realm.json").write_text(json.dumps(export), encoding="utf-8")

    with KeycloakEmulator(tmp_path / "realm.json") as keycloak:
        keycloak.clock.freeze()  # Keycloak compares whole seconds: a tick between calls would change the answer
        keycloak.add_user(email="ada@example.com", password=PASSWORD)
        openid = KeycloakOpenID(keycloak.url, "myrealm", "auth-client")
        first = await openid.a_token("ada@example.com", PASSWORD)
        second = await openid.a_refresh_token(first["refresh_token"])
        reused_at_once = await _token_error(openid.a_refresh_token(first["refresh_token"]))
        keycloak.advance(1)
        third = await openid.a_refresh_token(second["refresh_token"])
        reused_later = await _token_error(openid.a_refresh_token(second["refresh_token"]))
        await openid.connection.aclose()

    assert reused_at_once[1]["error_description"] == "Maximum allowed refresh token reuse exceeded"
    assert reused_later == (400, {"error": "invalid_grant", "error_description": "Stale token"})
    assert third["session_state"] == first["session_state"]

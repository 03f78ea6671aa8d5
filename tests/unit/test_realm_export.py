"""The Keycloak realm export (`deploy/keycloak/realm-export.json`, SPEC §9.7) defines what Keycloak mode
relies on. Choices the JSON cannot explain itself:

- Self-service of credentials is off in two ways: the `account-console` client is disabled, and the
  realm's default role no longer grants `account/manage-account` (only `view-profile`), so the account
  REST API refuses credential changes even to a token that reaches it. The `account` client is listed
  because an import that names `account-console` without `account` makes Keycloak create
  `account-console` twice.
- The user profile declares `user_id`, `roles`, `company_id`, `network_id` and `station_id` with
  `view`/`edit` for `admin` only: users cannot change the claims that authorize them, and Keycloak 24
  drops attributes a profile does not declare (unmanaged attributes are off by default).
- `firstName` and `lastName` are not required: Keycloak 24 requires them for users by default and then
  answers "Account is not fully set up" to a correct password (its VERIFY_PROFILE action), while this
  service signs users up with an e-mail address and a password only.
- `backend-admin` holds only the user roles of `realm-management` it needs; its secret is a development
  value, replaced in production (`KEYCLOAK_BACKEND_CLIENT_SECRET`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXPORT = Path(__file__).resolve().parents[2] / "deploy" / "keycloak" / "realm-export.json"
CLAIM_ATTRIBUTES = ("user_id", "roles", "company_id", "network_id", "station_id")


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    return json.loads(EXPORT.read_text(encoding="utf-8"))


def _client(realm: dict[str, Any], client_id: str) -> dict[str, Any]:
    [client] = [c for c in realm["clients"] if c["clientId"] == client_id]
    return client


def _user_profile(realm: dict[str, Any]) -> dict[str, Any]:
    [component] = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    assert component["providerId"] == "declarative-user-profile"
    [config] = component["config"]["kc.user.profile.config"]
    return json.loads(config)


def test_the_realm_is_enabled_and_closed_to_self_registration(realm: dict[str, Any]) -> None:
    assert (realm["realm"], realm["enabled"]) == ("myrealm", True)
    assert realm["registrationAllowed"] is False
    assert realm["loginWithEmailAllowed"] is True
    assert realm["duplicateEmailsAllowed"] is False
    assert realm["verifyEmail"] is True


def test_brute_force_detection_is_on_with_a_temporary_lockout(realm: dict[str, Any]) -> None:
    assert realm["bruteForceProtected"] is True
    assert realm["permanentLockout"] is False
    assert 3 <= realm["failureFactor"] <= 10
    assert realm["waitIncrementSeconds"] > 0
    assert realm["maxFailureWaitSeconds"] >= realm["waitIncrementSeconds"]


def test_refresh_tokens_and_sessions_have_keycloak_lifespans(realm: dict[str, Any]) -> None:
    assert 0 < realm["accessTokenLifespan"] <= 900
    assert realm["accessTokenLifespan"] < realm["ssoSessionIdleTimeout"] <= realm["ssoSessionMaxLifespan"]
    assert realm["revokeRefreshToken"] is False


def test_the_realm_roles_are_the_services_roles(realm: dict[str, Any]) -> None:
    names = {role["name"] for role in realm["roles"]["realm"]}

    assert {"user", "admin", "partner", "operator"} <= names
    assert realm["defaultRole"]["name"] == "default-roles-myrealm"


def test_auth_client_is_a_public_client_for_direct_grants_only(realm: dict[str, Any]) -> None:
    client = _client(realm, "auth-client")

    assert client["enabled"] is True and client["publicClient"] is True
    assert client["directAccessGrantsEnabled"] is True
    assert client["standardFlowEnabled"] is False and client["implicitFlowEnabled"] is False
    assert client["serviceAccountsEnabled"] is False
    assert client["protocol"] == "openid-connect"


def test_auth_client_maps_each_claim_attribute_into_access_and_id_tokens(realm: dict[str, Any]) -> None:
    mappers = {m["name"]: m for m in _client(realm, "auth-client")["protocolMappers"]}

    for attribute in CLAIM_ATTRIBUTES:
        mapper = mappers[attribute]
        config = mapper["config"]
        assert mapper["protocolMapper"] == "oidc-usermodel-attribute-mapper"
        assert (config["user.attribute"], config["claim.name"], config["jsonType.label"]) == (
            attribute, attribute, "String",
        )  # fmt: skip
        assert config["access.token.claim"] == config["id.token.claim"] == "true"
        assert config["multivalued"] == ("true" if attribute == "roles" else "false")


def test_auth_client_is_in_the_audience_of_its_access_tokens(realm: dict[str, Any]) -> None:
    [audience] = [m for m in _client(realm, "auth-client")["protocolMappers"]
                  if m["protocolMapper"] == "oidc-audience-mapper"]  # fmt: skip

    assert audience["config"]["included.client.audience"] == "auth-client"
    assert audience["config"]["access.token.claim"] == "true"


def test_backend_admin_is_a_confidential_service_account_client(realm: dict[str, Any]) -> None:
    client = _client(realm, "backend-admin")

    assert client["enabled"] is True and client["publicClient"] is False
    assert client["serviceAccountsEnabled"] is True
    assert client["clientAuthenticatorType"] == "client-secret" and client["secret"]
    assert client["directAccessGrantsEnabled"] is False and client["standardFlowEnabled"] is False


def test_backend_admins_service_account_may_manage_users_and_nothing_else(realm: dict[str, Any]) -> None:
    [account] = [u for u in realm["users"] if u.get("serviceAccountClientId") == "backend-admin"]

    assert account["username"] == "service-account-backend-admin" and account["enabled"] is True
    assert set(account["clientRoles"]) == {"realm-management"}
    assert sorted(account["clientRoles"]["realm-management"]) == ["manage-users", "query-users", "view-users"]


def test_the_user_profile_lets_only_admins_see_and_edit_the_claim_attributes(realm: dict[str, Any]) -> None:
    attributes = {a["name"]: a for a in _user_profile(realm)["attributes"]}

    for name in CLAIM_ATTRIBUTES:
        assert attributes[name]["permissions"] == {"view": ["admin"], "edit": ["admin"]}
    assert attributes["roles"]["multivalued"] is True
    assert {"username", "email", "firstName", "lastName"} <= set(attributes)


def test_no_profile_attribute_but_email_is_required_of_users(realm: dict[str, Any]) -> None:
    required = [a["name"] for a in _user_profile(realm)["attributes"] if "required" in a]

    assert required == ["email"]


def test_account_console_self_service_of_credentials_is_off(realm: dict[str, Any]) -> None:
    default_role = next(r for r in realm["roles"]["realm"] if r["name"] == realm["defaultRole"]["name"])

    assert _client(realm, "account-console")["enabled"] is False
    assert _client(realm, "account")["clientId"] == "account"
    assert default_role["composites"]["client"]["account"] == ["view-profile"]
    assert "manage-account" not in json.dumps(default_role)

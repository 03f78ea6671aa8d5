"""The realm as `deploy/keycloak/realm-export.json` defines it: clients, roles, mappers, lifespans and
the declarative user profile. Read once per emulator, so the export and the emulator cannot drift."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPORT_PATH = Path(__file__).resolve().parents[2] / "deploy" / "keycloak" / "realm-export.json"

# Keycloak adds these clients to every realm it imports when the export leaves them out.
_BUILT_IN_CLIENTS = ("realm-management", "broker", "admin-cli", "security-admin-console", "account", "account-console")
_REALM_MANAGEMENT_ROLES = (
    "manage-users", "view-users", "query-users", "query-groups", "manage-clients", "view-clients", "query-clients",
    "manage-realm", "view-realm", "manage-events", "view-events", "manage-authorization", "view-authorization",
    "manage-identity-providers", "view-identity-providers", "create-client", "impersonation", "query-realms",
    "realm-admin",
)  # fmt: skip
# view-users lets an admin list groups and users too (Keycloak's own composite).
_REALM_MANAGEMENT_COMPOSITES = {"view-users": ("query-users", "query-groups"), "view-clients": ("query-clients",)}


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    uuid: str
    enabled: bool
    public: bool
    secret: str | None
    direct_access_grants: bool
    service_accounts: bool
    mappers: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_id: str
    username: str
    realm_roles: tuple[str, ...]
    client_roles: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class RealmConfig:
    name: str
    enabled: bool
    settings: dict[str, Any]
    clients: dict[str, Client]
    realm_roles: frozenset[str]
    role_composites: dict[tuple[str | None, str], tuple[tuple[str | None, str], ...]]
    default_role: str
    service_accounts: tuple[ServiceAccount, ...]
    profile_attributes: dict[str, dict[str, Any]]
    unmanaged_attribute_policy: str | None
    raw: dict[str, Any] = field(repr=False)

    def setting(self, key: str, default: Any) -> Any:
        value = self.settings.get(key)
        return default if value is None else value

    def expand_roles(self, roles: list[tuple[str | None, str]]) -> tuple[list[str], dict[str, list[str]]]:
        """Realm and client roles after following composites, as tokens list them."""
        seen: list[tuple[str | None, str]] = []
        pending = list(roles)
        while pending:
            role = pending.pop(0)
            if role in seen:
                continue
            seen.append(role)
            pending.extend(self.role_composites.get(role, ()))
        realm = [name for client, name in seen if client is None]
        by_client: dict[str, list[str]] = {}
        for client, name in seen:
            if client is not None:
                by_client.setdefault(client, []).append(name)
        return realm, by_client

    def profile_required_for_user(self) -> list[str]:
        """Attributes a user must have before Keycloak lets them sign in (its VERIFY_PROFILE trigger)."""
        required = []
        for name, attribute in self.profile_attributes.items():
            rule = attribute.get("required")
            if rule is None or rule.get("scopes"):
                continue
            roles = rule.get("roles")
            if not roles or "user" in roles:
                required.append(name)
        return required


def _composites(role: dict[str, Any]) -> tuple[tuple[str | None, str], ...]:
    composites = role.get("composites") or {}
    found: list[tuple[str | None, str]] = [(None, name) for name in composites.get("realm", [])]
    for client_id, names in (composites.get("client") or {}).items():
        found.extend((client_id, name) for name in names)
    return tuple(found)


def load_realm(path: Path = EXPORT_PATH) -> RealmConfig:
    raw = json.loads(path.read_text(encoding="utf-8"))
    clients: dict[str, Client] = {}
    for rep in raw.get("clients", []):
        clients[rep["clientId"]] = Client(
            client_id=rep["clientId"],
            uuid=rep.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{raw['realm']}/{rep['clientId']}")),
            enabled=rep.get("enabled", True),
            public=rep.get("publicClient", False),
            secret=rep.get("secret"),
            direct_access_grants=rep.get("directAccessGrantsEnabled", False),
            service_accounts=rep.get("serviceAccountsEnabled", False),
            mappers=tuple(rep.get("protocolMappers", [])),
        )
    for client_id in _BUILT_IN_CLIENTS:
        if client_id not in clients:
            clients[client_id] = Client(
                client_id, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{raw['realm']}/{client_id}")),
                enabled=True, public=client_id != "realm-management", secret=None,
                direct_access_grants=False, service_accounts=False,
            )  # fmt: skip

    roles = raw.get("roles", {})
    composites: dict[tuple[str | None, str], tuple[tuple[str | None, str], ...]] = {}
    for role in roles.get("realm", []):
        composites[(None, role["name"])] = _composites(role)
    for client_id, client_roles in (roles.get("client") or {}).items():
        for role in client_roles:
            composites[(client_id, role["name"])] = _composites(role)
    for name, parts in _REALM_MANAGEMENT_COMPOSITES.items():
        composites.setdefault(("realm-management", name), tuple(("realm-management", p) for p in parts))

    default_role = (raw.get("defaultRole") or {}).get("name") or f"default-roles-{raw['realm'].lower()}"
    service_accounts = tuple(
        ServiceAccount(
            client_id=user["serviceAccountClientId"],
            username=user["username"],
            realm_roles=tuple(user.get("realmRoles", [])),
            client_roles={c: tuple(r) for c, r in (user.get("clientRoles") or {}).items()},
        )
        for user in raw.get("users", [])
        if user.get("serviceAccountClientId")
    )
    profile: dict[str, Any] = {}
    for component in (raw.get("components") or {}).get("org.keycloak.userprofile.UserProfileProvider", []):
        config = (component.get("config") or {}).get("kc.user.profile.config")
        if config:
            profile = json.loads(config[0])
    settings = {k: v for k, v in raw.items() if not isinstance(v, dict | list)}
    return RealmConfig(
        name=raw["realm"],
        enabled=raw.get("enabled", False),
        settings=settings,
        clients=clients,
        realm_roles=frozenset(r["name"] for r in roles.get("realm", [])) | {default_role},
        role_composites=composites,
        default_role=default_role,
        service_accounts=service_accounts,
        profile_attributes={a["name"]: a for a in profile.get("attributes", [])},
        unmanaged_attribute_policy=profile.get("unmanagedAttributePolicy"),
        raw=raw,
    )


def realm_management_role_names() -> tuple[str, ...]:
    return _REALM_MANAGEMENT_ROLES

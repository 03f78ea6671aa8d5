"""Tokens as Keycloak 24 mints them: claims, protocol mappers, audiences and lifetimes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.keycloak_emulator.keys import at_hash
from tests.keycloak_emulator.realm import Client
from tests.keycloak_emulator.state import ClientSession, EmulatorState, Session, User


def _convert(value: str, json_type: str) -> Any:
    if json_type in ("long", "int"):
        try:
            return int(value)
        except ValueError:
            return value
    if json_type == "boolean":
        return value.lower() == "true"
    return value


def _put_claim(claims: dict[str, Any], name: str, value: Any) -> None:
    # A dot in claim.name nests the claim (Keycloak's rule; "\." escapes a literal dot).
    parts = [p.replace("\0", ".") for p in name.replace("\\.", "\0").split(".")]
    target = claims
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def apply_mappers(claims: dict[str, Any], client: Client, user: User, token_kind: str) -> None:
    """Run the client's protocol mappers for one kind of token (access, id, introspection, userinfo)."""
    switch = {"access": "access.token.claim", "id": "id.token.claim", "userinfo": "userinfo.token.claim",
              "introspection": "introspection.token.claim"}[token_kind]  # fmt: skip
    for mapper in client.mappers:
        config = mapper.get("config") or {}
        if config.get(switch, "false" if token_kind != "introspection" else config.get("access.token.claim")) != "true":
            continue
        kind = mapper.get("protocolMapper")
        if kind == "oidc-usermodel-attribute-mapper":
            values = user.attributes.get(config.get("user.attribute", ""), [])
            if not values:
                continue
            converted = [_convert(v, config.get("jsonType.label", "String")) for v in values]
            value = converted if config.get("multivalued") == "true" else converted[0]
            _put_claim(claims, config.get("claim.name") or config.get("user.attribute", ""), value)
        elif kind == "oidc-audience-mapper" and token_kind != "userinfo":
            audience = config.get("included.client.audience") or config.get("included.custom.audience")
            if audience:
                current = claims.get("aud")
                auds = [] if current is None else [current] if isinstance(current, str) else list(current)
                if audience not in auds:
                    auds.append(audience)
                claims["aud"] = auds[0] if len(auds) == 1 else auds


def _roles(state: EmulatorState, user: User) -> tuple[list[str], dict[str, list[str]]]:
    roles: list[tuple[str | None, str]] = [(None, state.realm.default_role)]
    roles += [(None, r) for r in user.realm_roles]
    roles += [(c, r) for c, names in user.client_roles.items() for r in names]
    return state.realm.expand_roles(roles)


def _profile_claims(user: User) -> dict[str, Any]:
    claims: dict[str, Any] = {"email_verified": user.email_verified}
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    if name:
        claims["name"] = name
    claims["preferred_username"] = user.username
    if user.first_name:
        claims["given_name"] = user.first_name
    if user.last_name:
        claims["family_name"] = user.last_name
    if user.email:
        claims["email"] = user.email
    return claims


def issue_tokens(
    state: EmulatorState, client: Client, user: User, session: Session | None, scope: str, *, refresh: bool = True
) -> dict[str, Any]:
    """The token endpoint's success body; `session` is None for a service account (no SSO session)."""
    now = int(state.clock.now())
    issuer = state.issuer
    realm_roles, client_roles = _roles(state, user)
    granted_scope = " ".join(s for s in ("openid", "profile", "email") if s != "openid" or "openid" in scope.split())
    session_end = int(session.started + state.sso_max) if session else None
    access_exp = now + state.access_lifespan
    if session_end is not None:
        access_exp = min(access_exp, session_end)

    access: dict[str, Any] = {"exp": access_exp, "iat": now, "jti": str(uuid.uuid4()), "iss": issuer}
    audience = [c for c in client_roles if c != client.client_id]
    if audience:
        access["aud"] = audience[0] if len(audience) == 1 else audience
    access |= {"sub": user.id, "typ": "Bearer", "azp": client.client_id}
    if session is not None:
        access["session_state"] = session.id
    access |= {"acr": "1", "realm_access": {"roles": realm_roles}}
    if client_roles:
        access["resource_access"] = {c: {"roles": r} for c, r in client_roles.items()}
    access["scope"] = granted_scope
    if session is not None:
        access["sid"] = session.id
    if user.service_account_client:
        access |= {"clientHost": "127.0.0.1", "clientAddress": "127.0.0.1", "client_id": client.client_id}
    access |= _profile_claims(user)
    apply_mappers(access, client, user, "access")
    access_token = state.keys.sign(access)

    body: dict[str, Any] = {"access_token": access_token, "expires_in": access_exp - now}
    if refresh and session is not None:
        refresh_exp = min(int(session.last_refresh + state.sso_idle), session_end or 0)
        refresh_jti = str(uuid.uuid4())
        refresh_claims = {
            "exp": refresh_exp, "iat": now, "jti": refresh_jti, "iss": issuer, "aud": issuer,
            "sub": user.id, "typ": "Refresh", "azp": client.client_id, "session_state": session.id,
            "scope": granted_scope, "sid": session.id,
        }  # fmt: skip
        session.clients.setdefault(client.client_id, ClientSession()).timestamp = now
        body |= {"refresh_expires_in": refresh_exp - now, "refresh_token": state.keys.sign_refresh(refresh_claims)}
    else:
        body["refresh_expires_in"] = 0
    body["token_type"] = "Bearer"
    if "openid" in scope.split():
        id_claims: dict[str, Any] = {
            "exp": access_exp, "iat": now, "auth_time": int(session.started) if session else now,
            "jti": str(uuid.uuid4()), "iss": issuer, "aud": client.client_id, "sub": user.id, "typ": "ID",
            "azp": client.client_id,
        }  # fmt: skip
        if session is not None:
            id_claims["session_state"] = session.id
        id_claims |= {"at_hash": at_hash(access_token), "acr": "1"}
        if session is not None:
            id_claims["sid"] = session.id
        id_claims |= _profile_claims(user)
        apply_mappers(id_claims, client, user, "id")
        body["id_token"] = state.keys.sign(id_claims)
    body["not-before-policy"] = 0
    if session is not None:
        body["session_state"] = session.id
    body["scope"] = granted_scope
    return body


def userinfo_claims(state: EmulatorState, client: Client, user: User) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": user.id} | _profile_claims(user)
    apply_mappers(claims, client, user, "userinfo")
    return claims

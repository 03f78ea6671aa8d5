"""Keycloak identity mode (SPEC §9): Keycloak keeps the passwords and issues the tokens; this
service keeps accounts, sessions, roles and the audit trail, and writes role, company and scopes
to Keycloak's user attributes, which protocol mappers put into the tokens.

Calls use python-keycloak's async API: the public (or confidential) auth client for the token
endpoints, and the backend client's service account, whose token python-keycloak caches and
renews, for the admin API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import jwt
import structlog
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection
from keycloak.exceptions import KeycloakError

from auth_service.application.errors import InvalidTokenError, ServiceUnavailableError
from auth_service.application.ports import (
    IssuedTokens,
    NewSession,
    PasswordCheck,
    ProviderAccount,
    ProviderTokens,
    RequestContext,
)
from auth_service.domain.errors import EmailTakenError, UsernameTakenError
from auth_service.domain.ids import session_id_for
from auth_service.domain.sessions import Session
from auth_service.domain.users import User, UserStatus, normalize_email

log = structlog.get_logger(__name__)

NOT_SET_UP = "Account is not fully set up"  # Keycloak says it only after a correct password
CLAIM_ATTRIBUTES = ("user_id", "roles", "company_id", "network_id", "station_id")
PAGE_SIZE = 100


def attributes_of(user: User) -> dict[str, list[str]]:
    """The attributes behind the token claims of SPEC §9.5 (an empty list removes one)."""
    return {"user_id": [user.id], "roles": [user.role.value],
            "company_id": [user.company_id] if user.company_id else [],
            "network_id": [user.network_id] if user.network_id else [],
            "station_id": [user.station_id] if user.station_id else []}


def account_of(representation: dict[str, Any]) -> ProviderAccount:
    attributes = representation.get("attributes") or {}
    return ProviderAccount(
        subject=str(representation["id"]), email=normalize_email(str(representation.get("email") or "")),
        username=str(representation.get("username") or ""),
        email_verified=representation.get("emailVerified") is True,
        enabled=representation.get("enabled") is not False,
        first_name=representation.get("firstName"), last_name=representation.get("lastName"),
        attributes={k: [str(v) for v in values] for k, values in attributes.items() if isinstance(values, list)})


def _unverified_claims(token: str) -> dict[str, Any]:
    """Claims of a token that just came from Keycloak over our own back channel."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _description(exc: KeycloakError) -> str:
    body = exc.response_body
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body or exc.error_message)


class KeycloakGateway:
    """python-keycloak clients for one realm, with failures turned into this service's errors."""

    def __init__(self, url: str, realm: str, auth_client_id: str, auth_client_secret: str | None,
                 backend_client_id: str, backend_client_secret: str, timeout: int = 10) -> None:
        self.url, self.realm = url.rstrip("/"), realm
        self.issuer = f"{self.url}/realms/{realm}"
        self.auth_client_id = auth_client_id
        self.openid = KeycloakOpenID(server_url=self.url, realm_name=realm, client_id=auth_client_id,
                                     client_secret_key=auth_client_secret, timeout=timeout)
        self._connection = KeycloakOpenIDConnection(
            server_url=self.url, realm_name=realm, user_realm_name=realm, client_id=backend_client_id,
            client_secret_key=backend_client_secret, grant_type="client_credentials", timeout=timeout)
        self.admin = KeycloakAdmin(connection=self._connection)

    async def jwks(self) -> dict[str, Any]:
        certs: dict[str, Any] = await self.openid.a_certs()
        return certs

    async def aclose(self) -> None:
        for connection in (self.openid.connection, self._connection):
            with contextlib.suppress(Exception):
                await connection.aclose()

    async def delete_session(self, sid: str) -> None:
        response = await self._connection.a_raw_delete(f"admin/realms/{self.realm}/sessions/{sid}")
        if response.status_code not in (204, 404):
            raise ServiceUnavailableError("The identity provider did not end the session.")


def tokens_of(response: dict[str, Any]) -> ProviderTokens:
    claims = _unverified_claims(str(response["access_token"]))
    return ProviderTokens(
        access_token=str(response["access_token"]), refresh_token=str(response.get("refresh_token") or ""),
        id_token=response.get("id_token"), expires_in=int(response.get("expires_in") or 0),
        refresh_expires_in=int(response.get("refresh_expires_in") or 0),
        session_id=str(claims.get("sid") or claims.get("session_state") or ""), subject=str(claims["sub"]))


class KeycloakIdentityProvider:
    """The IdentityProvider and ProviderTokenEndpoint ports on Keycloak. Keycloak being down or
    answering 5xx is ServiceUnavailableError (503), never a wrong-password answer."""

    def __init__(self, gateway: KeycloakGateway, session_max_lifetime: timedelta) -> None:
        self._kc, self._max_lifetime = gateway, session_max_lifetime

    # -- accounts ---------------------------------------------------------------------------------
    async def ensure_email_free(self, email: str) -> None:
        if await self._find_by_email(email) is not None:
            raise EmailTakenError("This e-mail address is already registered.")

    async def credential(self, password: str) -> str | None:
        return None  # Keycloak keeps the password; nothing about it is stored here

    async def create(self, user: User, password: str | None) -> None:
        payload: dict[str, Any] = {
            "username": user.username, "email": user.email, "firstName": user.first_name,
            "lastName": user.last_name, "enabled": True, "emailVerified": user.is_verified,
            # Not `enabled: false`: Keycloak says "Account disabled" before checking a password,
            # which would tell anyone that a pending account exists (SPEC §9.1).
            "requiredActions": [] if user.is_verified else ["VERIFY_EMAIL"],
            "attributes": attributes_of(user),
        }
        if password is not None:
            payload["credentials"] = [{"type": "password", "value": password, "temporary": False}]
        try:
            user.keycloak_id = await self._kc.admin.a_create_user(payload)
        except KeycloakError as exc:
            if exc.response_code == 409:
                if "email" in _description(exc).lower():
                    raise EmailTakenError("This e-mail address is already registered.") from None
                raise UsernameTakenError("This username is already taken.") from None
            raise self._unavailable(exc, "create_user") from None
        except Exception as exc:
            raise self._unavailable(exc, "create_user") from None

    async def remove(self, user: User) -> None:
        if user.keycloak_id is None:
            return
        try:
            await self._kc.admin.a_delete_user(user.keycloak_id)
        except KeycloakError as exc:
            if exc.response_code != 404:
                raise self._unavailable(exc, "delete_user") from None
        except Exception as exc:
            raise self._unavailable(exc, "delete_user") from None
        user.keycloak_id = None

    async def mark_verified(self, user: User) -> None:
        await self._update(user, {"emailVerified": True, "requiredActions": []})

    async def sync(self, user: User) -> None:
        if user.keycloak_id is None:
            return
        current = await self._call("get_user", self._kc.admin.a_get_user(user.keycloak_id))
        attributes = dict(current.get("attributes") or {})
        attributes.update(attributes_of(user))  # keep attributes Keycloak admins set for other uses
        await self._update(user, {
            "email": user.email, "firstName": user.first_name, "lastName": user.last_name,
            "enabled": user.status not in (UserStatus.DISABLED, UserStatus.DELETED), "attributes": attributes})

    async def set_password(self, user: User, password: str) -> None:
        if user.keycloak_id is None:
            raise ServiceUnavailableError("The account is not linked to the identity provider.")
        await self._call("reset_password", self._kc.admin.a_set_user_password(user.keycloak_id, password,
                                                                                  temporary=False))

    async def accounts(self) -> AsyncIterator[ProviderAccount]:
        first = 0
        while True:
            page = await self._call("get_users", self._kc.admin.a_get_users({"first": first, "max": PAGE_SIZE}))
            for representation in page:
                if representation.get("email") and not str(representation.get("username", "")).startswith(
                        "service-account-"):
                    yield account_of(representation)
            if len(page) < PAGE_SIZE:
                return
            first += PAGE_SIZE

    # -- passwords and sessions -------------------------------------------------------------------
    async def check_password(self, user: User | None, email: str, password: str) -> PasswordCheck:
        try:
            response = await self._kc.openid.a_token(username=email, password=password, scope="openid")
        except KeycloakError as exc:
            if exc.response_code == 401:
                return PasswordCheck(matches=False)
            if exc.response_code == 400 and "invalid_grant" in _description(exc):
                if NOT_SET_UP in _description(exc):
                    return PasswordCheck(matches=True, set_up=False,
                                         account=None if user else await self._find_by_email(email))
                return PasswordCheck(matches=False)  # "Account disabled" and the like
            raise self._unavailable(exc, "token") from None
        except Exception as exc:
            raise self._unavailable(exc, "token") from None
        grant = tokens_of(response)
        account = None
        if user is None or user.keycloak_id != grant.subject:
            representation = await self._call("get_user", self._kc.admin.a_get_user(grant.subject))
            account = account_of(representation)
        return PasswordCheck(matches=True, grant=grant, account=account)

    async def abandon(self, check: PasswordCheck) -> None:
        if isinstance(check.grant, ProviderTokens):
            await self._logout(check.grant.refresh_token)

    async def open_session(self, user: User, ctx: RequestContext, now: datetime,
                           check: PasswordCheck) -> NewSession:
        grant = check.grant
        assert isinstance(grant, ProviderTokens), "open_session needs a successful check"
        if _unverified_claims(grant.access_token).get("user_id") != user.id:
            # A Keycloak user seen for the first time (or changed behind our back): write the
            # attributes, then refresh, so the tokens carry this service's claims.
            if user.keycloak_id is None:
                user.keycloak_id = grant.subject
            await self.sync(user)
            grant = await self.refresh(grant.refresh_token)
        session = Session(id=session_id_for(grant.session_id), user_id=user.id, created_at=now, last_used_at=now,
                          expires_at=now + self._max_lifetime, ip=ctx.ip,
                          user_agent=(ctx.user_agent or "")[:512] or None, external_sid=grant.session_id)

        def issue(account: User) -> IssuedTokens:
            return grant.issued(session.id, account)

        # Should the session not open, the provider's session ends with the refresh token of this grant.
        return NewSession(session, None, issue, replace(check, grant=grant))

    async def end_sessions(self, user: User, sessions: Sequence[Session] | None) -> None:
        """Best effort: the sessions are already revoked here, which every check of ours honours."""
        if user.keycloak_id is None:
            return
        try:
            if sessions is None:
                await self._kc.admin.a_user_logout(user.keycloak_id)
            else:
                for session in sessions:
                    if session.external_sid:
                        await self._kc.delete_session(session.external_sid)
        except Exception as exc:
            log.warning("keycloak_end_sessions_failed", error=type(exc).__name__)

    async def revoke_at_provider(self, token: str) -> str | None:
        """A Keycloak refresh token: Keycloak's logout ends its session, and accepts only a live
        token of our client, so the session id read from it afterwards can be trusted."""
        try:
            claims = _unverified_claims(token)
        except jwt.PyJWTError:
            return None
        sid = claims.get("sid") or claims.get("session_state")
        if claims.get("typ") != "Refresh" or claims.get("iss") != self._kc.issuer or not isinstance(sid, str):
            return None
        return sid if await self._logout(token) else None

    async def refresh(self, refresh_token: str) -> ProviderTokens:
        try:
            return tokens_of(await self._kc.openid.a_refresh_token(refresh_token))
        except KeycloakError as exc:
            if exc.response_code in (400, 401):
                raise InvalidTokenError("The refresh token is invalid.") from None
            raise self._unavailable(exc, "refresh") from None
        except Exception as exc:
            raise self._unavailable(exc, "refresh") from None

    # -- helpers ----------------------------------------------------------------------------------
    async def _find_by_email(self, email: str) -> ProviderAccount | None:
        found = await self._call("get_users", self._kc.admin.a_get_users({"email": email, "exact": True}))
        return next((account_of(u) for u in found if normalize_email(str(u.get("email") or "")) == email), None)

    async def _update(self, user: User, payload: dict[str, Any]) -> None:
        if user.keycloak_id is not None:
            await self._call("update_user", self._kc.admin.a_update_user(user.keycloak_id, payload))

    async def _logout(self, refresh_token: str) -> bool:
        try:
            await self._kc.openid.a_logout(refresh_token)
        except Exception as exc:
            log.info("keycloak_logout_refused", error=type(exc).__name__)
            return False
        return True

    async def _call(self, operation: str, call: Any) -> Any:
        try:
            return await call
        except KeycloakError as exc:
            if exc.response_code == 409:
                raise EmailTakenError("This e-mail address is already registered.") from None
            raise self._unavailable(exc, operation) from None
        except Exception as exc:  # unreachable, timed out, an unexpected answer
            raise self._unavailable(exc, operation) from None

    @staticmethod
    def _unavailable(exc: Exception, operation: str) -> ServiceUnavailableError:
        log.warning("keycloak_unavailable", operation=operation, error=type(exc).__name__,
                    status=getattr(exc, "response_code", None))
        return ServiceUnavailableError("The identity provider is unavailable.")

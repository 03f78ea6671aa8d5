"""Keycloak's access tokens (SPEC §9.5): verified against the realm's JWKS, kept in memory and
fetched again only for an unknown `kid`, at most once per refetch interval, so a flood of forged
`kid`s cannot turn into a flood of requests to Keycloak."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import structlog

from auth_service.application.errors import InvalidTokenError, TokenExpiredError, UnknownSigningKeyError
from auth_service.application.ports import Clock
from auth_service.domain.ids import session_id_for
from auth_service.domain.principal import Principal
from auth_service.domain.users import Role
from auth_service.infrastructure.security import jws
from auth_service.infrastructure.security.verified_tokens import (
    LEEWAY,
    CachingVerifier,
    Verified,
    is_number,
    string,
)

log = structlog.get_logger(__name__)

REFETCH_INTERVAL = 10.0  # seconds between two JWKS fetches (SPEC §9.5)
_MAX_TOKEN_LENGTH = 16384
_ROLES = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    alg: str


def parse_jwks(document: object) -> dict[str, _Key]:
    """The signing keys of a JWKS document; keys of other uses or unknown types are left out."""
    keys: dict[str, _Key] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
            continue
        try:
            parsed = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        alg = entry.get("alg") or parsed.algorithm_name
        if alg in jws.ALGORITHMS:
            keys[entry["kid"]] = _Key(parsed.key, alg)
    return keys


class KeycloakAccessTokens(CachingVerifier):
    """Verifies Keycloak access tokens with no I/O on the request path; `reload_keys` is the one
    way to reach Keycloak, and it is rate limited. Verified tokens are cached until they expire."""

    def __init__(self, fetch_jwks: Callable[[], Awaitable[dict[str, Any]]], issuer: str,
                 clients: frozenset[str], clock: Clock, refetch_interval: float = REFETCH_INTERVAL,
                 cache_size: int = 10000) -> None:
        super().__init__(cache_size)
        self._fetch, self._issuer, self._clients, self._clock = fetch_jwks, issuer, clients, clock
        self._interval = refetch_interval
        self._keys: dict[str, _Key] = {}
        self._document: dict[str, Any] = {"keys": []}
        self._lock = asyncio.Lock()
        self._last_fetch: float | None = None
        self._generation = 0
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        """The JWKS document as Keycloak last served it (SPEC §9.6: discovery points at Keycloak's)."""
        return self._document

    def issue(self, *_: object, **__: object) -> str:
        raise RuntimeError("in Keycloak mode, Keycloak issues the access tokens")

    async def reload_keys(self) -> bool:
        """Fetch the JWKS unless it was fetched within the interval; concurrent callers share one
        fetch. True when the key set may have changed since the caller looked."""
        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return True  # another caller fetched while this one waited
            now = self._clock.now().timestamp()
            if self._last_fetch is not None and now - self._last_fetch < self._interval:
                return False
            self._last_fetch = now
            self.fetches += 1
            try:
                document = await self._fetch()
                keys = parse_jwks(document)
            except Exception as exc:  # Keycloak down: keep the keys we have
                log.warning("keycloak_jwks_fetch_failed", error=type(exc).__name__)
                return False
            if not keys:
                log.warning("keycloak_jwks_empty")
                return False
            self._keys, self._document = keys, document
            self._generation += 1
            return True

    def _key_usable(self, kid: str) -> bool:
        return kid in self._keys

    def _verify(self, token: str, timestamp: float) -> Verified:
        kid, claims = jws.verified_claims(token, _MAX_TOKEN_LENGTH, self._key_for)
        principal = self._principal(claims, timestamp)
        return Verified(principal, kid, float("-inf"), principal.expires_at.timestamp())

    def _key_for(self, _header: dict[str, Any], kid: str) -> tuple[str, Any]:
        key = self._keys.get(kid)
        if key is None:
            raise UnknownSigningKeyError()  # Keycloak rotated: the caller refetches the JWKS
        return key.alg, key.key

    def _principal(self, claims: dict[str, Any], timestamp: float) -> Principal:
        # Keycloak marks access tokens `typ: Bearer`; ID and refresh tokens say `ID` / `Refresh`.
        if claims.get("iss") != self._issuer or claims.get("typ") != "Bearer":
            raise InvalidTokenError()
        if claims.get("azp") not in self._clients:
            raise InvalidTokenError()
        sid = claims.get("sid") or claims.get("session_state")
        if not all(isinstance(claims.get(name), str) and claims[name] for name in ("sub", "user_id")) \
                or not isinstance(sid, str) or not sid:
            raise InvalidTokenError()  # no user_id: a Keycloak user this service has not linked yet
        if not is_number(claims.get("exp")) or not is_number(claims.get("iat")):
            raise InvalidTokenError()
        expires, issued = float(claims["exp"]), float(claims["iat"])
        if issued > timestamp + LEEWAY:
            raise InvalidTokenError()
        not_before = claims.get("nbf")
        if not_before is not None and (not is_number(not_before) or not_before > timestamp + LEEWAY):
            raise InvalidTokenError()
        if timestamp >= expires:
            raise TokenExpiredError()
        roles = claims.get("roles")
        role = next((r for r in roles if r in _ROLES), "user") if isinstance(roles, list) else "user"
        company_id = claims.get("company_id")
        return Principal(
            user_id=claims["user_id"],
            subject=claims["sub"],
            session_id=session_id_for(sid),
            email=string(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            role=role,
            company_id=company_id if isinstance(company_id, str) and company_id else None,
            network_id=string(claims.get("network_id")),
            station_id=string(claims.get("station_id")),
            expires_at=datetime.fromtimestamp(expires, UTC),
            claims=claims,
        )


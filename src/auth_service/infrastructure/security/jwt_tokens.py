"""Access tokens: RFC 9068 JWTs signed with the key ring's current key (SPEC §3 Access token claims)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import jwt

from auth_service.application.errors import InvalidTokenError, TokenExpiredError
from auth_service.domain.principal import Principal
from auth_service.domain.sessions import Session
from auth_service.domain.users import User
from auth_service.infrastructure.security import jws
from auth_service.infrastructure.security.keys import KeyStore
from auth_service.infrastructure.security.verified_tokens import (
    LEEWAY,
    CachingVerifier,
    Verified,
    is_number,
    number,
    string,
)

TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1, compared case-insensitively
_MAX_TOKEN_LENGTH = 8192
_REQUIRED_STRINGS = ("sub", "sid", "user_id", "jti")


class JwtAccessTokens(CachingVerifier):
    """Issues and verifies access tokens without I/O; verified tokens are cached until they
    expire, and a cache hit re-checks that the signing key has not been revoked."""

    def __init__(self, key_store: KeyStore, issuer: str, audience: str, cache_size: int = 10000) -> None:
        super().__init__(cache_size)
        self._keys = key_store
        self._issuer = issuer
        self._audience = audience

    def issue(self, user: User, session: Session, *, now: datetime, expires_at: datetime) -> str:
        key = self._keys.ring.signing_key_at(now)
        if key is None:
            raise RuntimeError("no usable signing key: run `auth-service migrate` or check SECRET_KEY")
        issued_at = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": user.id,
            "aud": self._audience,
            "exp": int(expires_at.timestamp()),  # rounded down: never past the session's end
            "iat": issued_at,
            "nbf": issued_at,
            "jti": secrets.token_urlsafe(16),
            "sid": session.id,
            "user_id": user.id,
            "email": user.email,
            "email_verified": user.is_verified,
            "roles": [user.role.value],
            "company_id": user.company_id,
            "network_id": user.network_id,
            "station_id": user.station_id,
        }
        return jwt.encode(claims, key.private_key, algorithm=key.alg,
                          headers={"kid": key.kid, "typ": TOKEN_TYPE})

    async def reload_keys(self) -> bool:
        """Our own keys reach every instance by the key store's periodic reload, not on demand."""
        return False

    def _key_usable(self, kid: str) -> bool:
        return self._keys.ring.verification_key(kid) is not None

    def _verify(self, token: str, timestamp: float) -> Verified:
        kid, claims = jws.verified_claims(token, _MAX_TOKEN_LENGTH, self._key_for)
        return Verified(self._principal(claims, timestamp), kid, number(claims.get("nbf"), float("-inf")),
                         number(claims["exp"]))

    def _key_for(self, header: dict[str, Any], kid: str) -> tuple[str, Any]:
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidTokenError()
        key = self._keys.ring.verification_key(kid)
        if key is None:
            raise InvalidTokenError()
        return key.alg, key.public_key

    def _principal(self, claims: dict[str, Any], timestamp: float) -> Principal:
        if claims.get("iss") != self._issuer:
            raise InvalidTokenError()
        audience = claims.get("aud")
        if not (audience == self._audience or (isinstance(audience, list) and self._audience in audience)):
            raise InvalidTokenError()
        for name in _REQUIRED_STRINGS:  # a loop, not any(): this runs for every new token
            value = claims.get(name)
            if not isinstance(value, str) or not value:
                raise InvalidTokenError()
        if not is_number(claims.get("iat")) or not is_number(claims.get("exp")):
            raise InvalidTokenError()
        not_before = claims.get("nbf")
        if not_before is not None and (not is_number(not_before) or not_before > timestamp + LEEWAY):
            raise InvalidTokenError()
        expires = claims["exp"]
        if timestamp >= expires:
            raise TokenExpiredError()
        roles = claims.get("roles")
        role = roles[0] if isinstance(roles, list) and roles and isinstance(roles[0], str) else "user"
        company_id = claims.get("company_id")
        return Principal(
            user_id=claims["user_id"],
            subject=claims["sub"],
            session_id=claims["sid"],
            email=string(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            role=role,
            company_id=company_id if isinstance(company_id, str) else None,
            network_id=string(claims.get("network_id")),
            station_id=string(claims.get("station_id")),
            expires_at=datetime.fromtimestamp(expires, UTC),
            claims=claims,
        )


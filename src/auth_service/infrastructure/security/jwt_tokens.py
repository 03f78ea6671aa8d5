"""Access tokens: RFC 9068 JWTs signed with the key ring's current key (SPEC §3 Access token claims)."""

from __future__ import annotations

import math
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
    string,
)

TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1, compared case-insensitively
_MAX_TOKEN_LENGTH = 8192
_NUMBERS = (int, float)


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
        """Every token not seen before comes here (the bearer check's slow case), so the claims are
        checked inline: orjson gives exact built-in types, so `type(x) is str` and `type(x) in
        _NUMBERS` are the whole check (a JSON `true` is a bool, never an int)."""
        kid, claims = jws.verified_claims(token, _MAX_TOKEN_LENGTH, self._key_for)
        get = claims.get
        audience = get("aud")
        if get("iss") != self._issuer or not (
                audience == self._audience or (type(audience) is list and self._audience in audience)):
            raise InvalidTokenError()
        subject, session_id, user_id, token_id = get("sub"), get("sid"), get("user_id"), get("jti")
        if not (type(subject) is str and subject and type(session_id) is str and session_id
                and type(user_id) is str and user_id and type(token_id) is str and token_id):
            raise InvalidTokenError()
        expires: Any = get("exp")  # a number once checked below
        not_before: Any = get("nbf")
        if type(get("iat")) not in _NUMBERS or type(expires) not in _NUMBERS:
            raise InvalidTokenError()
        if not_before is None:
            not_before = -math.inf
        elif type(not_before) not in _NUMBERS or not_before > timestamp + LEEWAY:
            raise InvalidTokenError()
        if timestamp >= expires:
            raise TokenExpiredError()
        roles, company_id = get("roles"), get("company_id")
        principal = Principal(
            user_id=user_id,
            subject=subject,
            session_id=session_id,
            email=string(get("email")),
            email_verified=get("email_verified") is True,
            role=roles[0] if type(roles) is list and roles and type(roles[0]) is str else "user",
            company_id=company_id if type(company_id) is str else None,
            network_id=string(get("network_id")),
            station_id=string(get("station_id")),
            expires_at=datetime.fromtimestamp(expires, UTC),
            claims=claims,
        )
        return Verified(principal, kid, not_before, expires)

    def _key_for(self, header: dict[str, Any], kid: str) -> tuple[str, Any]:
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidTokenError()
        key = self._keys.ring.verification_key(kid)
        if key is None:
            raise InvalidTokenError()
        return key.alg, key.public_key



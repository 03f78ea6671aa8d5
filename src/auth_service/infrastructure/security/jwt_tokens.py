"""Access tokens: RFC 9068 JWTs signed with the key ring's current key (SPEC §3 Access token claims)."""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.types import Options

from auth_service.application.errors import InvalidTokenError, TokenExpiredError
from auth_service.domain.principal import Principal
from auth_service.domain.sessions import Session
from auth_service.domain.users import User
from auth_service.infrastructure.security.keys import KeyStore

TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1, compared case-insensitively
_NBF_LEEWAY = 5.0  # seconds of clock skew tolerated between instances
_MAX_TOKEN_LENGTH = 8192
# Exactly three non-empty base64url segments: rejects JWE, JSON serialisation and unsigned tokens early.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# PyJWT checks times against the wall clock: we check them against the service's clock instead.
_SIGNATURE_ONLY: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}
_REQUIRED_STRINGS = ("sub", "sid", "user_id", "jti")


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    kid: str
    not_before: float
    expires: float


class JwtAccessTokens:
    """Issues and verifies access tokens without I/O. Verified tokens are cached (bounded, LRU);
    a cache hit still re-checks the clock and that the signing key has not been revoked."""

    def __init__(self, key_store: KeyStore, issuer: str, audience: str, cache_size: int = 10000) -> None:
        self._keys = key_store
        self._issuer = issuer
        self._audience = audience
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Verified] = OrderedDict()

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

    def verify(self, token: str, *, now: datetime) -> Principal:
        """Signature, typ, alg, iss, aud, exp, nbf. Raises InvalidTokenError / TokenExpiredError.
        The returned Principal may be shared between calls: treat its claims as read-only."""
        timestamp = now.timestamp()
        cached = self._cache.get(token)
        if cached is not None:
            if (cached.not_before - _NBF_LEEWAY <= timestamp < cached.expires
                    and self._keys.ring.verification_key(cached.kid) is not None):
                try:  # noqa: SIM105 - the hot path: cheaper than contextlib.suppress
                    self._cache.move_to_end(token)
                except KeyError:  # evicted meanwhile by another thread
                    pass
                return cached.principal
            # Expired or its key is gone: the full check below raises the right error.
            self._cache.pop(token, None)
        verified = self._verify(token, timestamp)
        self._cache[token] = verified
        while len(self._cache) > self._cache_size:
            try:
                self._cache.popitem(last=False)
            except KeyError:
                break
        return verified.principal

    async def reload_keys(self) -> bool:
        """Our own keys reach every instance by the key store's periodic reload, not on demand."""
        return False

    def clear_cache(self) -> None:
        self._cache.clear()

    def _verify(self, token: str, timestamp: float) -> _Verified:
        if len(token) > _MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise InvalidTokenError()
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidTokenError() from None
        typ, kid = header.get("typ"), header.get("kid")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidTokenError()
        # RFC 7515 §4.1.11: we understand no extension, so any critical one means reject.
        if "crit" in header or not isinstance(kid, str):
            raise InvalidTokenError()
        key = self._keys.ring.verification_key(kid)
        # The algorithm comes from our key, never from the token: this defeats `alg: none` and
        # HS256 signed with the public key as the HMAC secret.
        if key is None or header.get("alg") != key.alg:
            raise InvalidTokenError()
        try:
            claims = jwt.decode(token, key.public_key, algorithms=[key.alg], options=_SIGNATURE_ONLY)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidTokenError() from None
        return _Verified(self._principal(claims, timestamp), kid, _number(claims.get("nbf"), float("-inf")),
                         _number(claims["exp"]))

    def _principal(self, claims: dict[str, Any], timestamp: float) -> Principal:
        if claims.get("iss") != self._issuer:
            raise InvalidTokenError()
        audience = claims.get("aud")
        if not (audience == self._audience or (isinstance(audience, list) and self._audience in audience)):
            raise InvalidTokenError()
        if any(not isinstance(claims.get(name), str) or not claims[name] for name in _REQUIRED_STRINGS):
            raise InvalidTokenError()
        if not _is_number(claims.get("iat")) or not _is_number(claims.get("exp")):
            raise InvalidTokenError()
        not_before = claims.get("nbf")
        if not_before is not None and (not _is_number(not_before) or not_before > timestamp + _NBF_LEEWAY):
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
            email=_string(claims.get("email")),
            email_verified=claims.get("email_verified") is True,
            role=role,
            company_id=company_id if isinstance(company_id, str) else None,
            network_id=_string(claims.get("network_id")),
            station_id=_string(claims.get("station_id")),
            expires_at=datetime.fromtimestamp(expires, UTC),
            claims=claims,
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""

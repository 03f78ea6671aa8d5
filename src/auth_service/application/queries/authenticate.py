"""The bearer check (SPEC §3): signature, claims and the in-memory revocation list. No I/O, so it
keeps working while the database is down."""

from __future__ import annotations

from typing import Any

from auth_service.application.errors import (
    InvalidTokenError,
    TokenExpiredError,
    TokenRevokedError,
    UnknownSigningKeyError,
)
from auth_service.application.ports import AccessTokens, Clock, RevocationList
from auth_service.domain.principal import Principal


class Authenticate:
    """Raises InvalidTokenError, TokenExpiredError or TokenRevokedError."""

    def __init__(self, access_tokens: AccessTokens, revocations: RevocationList, clock: Clock) -> None:
        self._access, self._revocations, self._clock = access_tokens, revocations, clock

    def __call__(self, token: str) -> Principal:
        principal = self._access.verify(token, now=self._clock.now())
        if self._revocations.is_revoked(principal.session_id):
            raise TokenRevokedError()
        return principal

    async def verified(self, token: str) -> Principal:
        """As a call, but a token signed by a key not yet known makes the keys reload once (when
        the key source allows it now) before the token is refused."""
        try:
            return self(token)
        except UnknownSigningKeyError:
            if not await self._access.reload_keys():
                raise
        return self(token)


class Introspect:
    """RFC 7662: `{"active": false}` for anything that is not a live access token."""

    def __init__(self, authenticate: Authenticate) -> None:
        self._authenticate = authenticate

    async def __call__(self, token: str) -> dict[str, Any]:
        try:
            principal = await self._authenticate.verified(token)
        except (InvalidTokenError, TokenExpiredError, TokenRevokedError):
            return {"active": False}
        return {"active": True, "token_type": "access_token", "username": principal.email, **principal.claims}

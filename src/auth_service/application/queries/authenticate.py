"""The bearer check (SPEC §3): signature, claims and the in-memory revocation list. No I/O, so it
keeps working while the database is down."""

from __future__ import annotations

from typing import Any

from auth_service.application.errors import InvalidTokenError, TokenExpiredError, TokenRevokedError
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


class Introspect:
    """RFC 7662: `{"active": false}` for anything that is not a live access token."""

    def __init__(self, authenticate: Authenticate) -> None:
        self._authenticate = authenticate

    def __call__(self, token: str) -> dict[str, Any]:
        try:
            principal = self._authenticate(token)
        except (InvalidTokenError, TokenExpiredError, TokenRevokedError):
            return {"active": False}
        return {"active": True, "token_type": "access_token", "username": principal.email, **principal.claims}

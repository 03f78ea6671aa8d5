"""What the two bearer verifiers (our own JWTs, Keycloak's) share: a bounded cache of verified
tokens, so a token seen before costs a dict lookup, and small claim helpers (the JWS check
itself is jws.py)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from auth_service.domain.principal import Principal

LEEWAY = 5.0  # seconds of clock skew tolerated between machines


@dataclass(frozen=True, slots=True)
class Verified:
    principal: Principal
    kid: str
    not_before: float
    expires: float


class CachingVerifier(ABC):
    """Verified tokens are cached (bounded, LRU) until they expire; a cache hit still re-checks
    the clock and that the signing key is still usable.

    A token enters the cache the second time it is verified, not the first (admission on a second
    sight, as CDNs and TinyLFU's doorkeeper do). Clients reuse an access token for its whole life,
    so theirs are cached from their second request on. Tokens that come once each (a gateway that
    caches them itself, a scan of many tokens) would only push those out, and keeping each would
    cost more than the check it could spare: the doorkeeper remembers just their digests."""

    def __init__(self, cache_size: int = 10000) -> None:
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, Verified] = OrderedDict()
        self._seen_once: set[bytes] = set()  # digests of tokens verified once; emptied when full

    @abstractmethod
    def _verify(self, token: str, timestamp: float) -> Verified:
        """The full check; raises InvalidTokenError / TokenExpiredError."""

    @abstractmethod
    def _key_usable(self, kid: str) -> bool: ...

    def verify(self, token: str, *, now: datetime) -> Principal:
        """The returned Principal may be shared between calls: treat its claims as read-only."""
        timestamp = now.timestamp()
        # Keyed by the token's SHA-256 (collision resistant, so no other token can hit the entry):
        # 32 bytes instead of the ~800-byte token, for each of the cache's entries.
        key = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(key)
        if cached is not None:
            if cached.not_before - LEEWAY <= timestamp < cached.expires and self._key_usable(cached.kid):
                try:  # noqa: SIM105 - the hot path: cheaper than contextlib.suppress
                    self._cache.move_to_end(key)
                except KeyError:  # evicted meanwhile by another thread
                    pass
                return cached.principal
            # Expired or its key is gone: the full check below raises the right error.
            self._cache.pop(key, None)
        verified = self._verify(token, timestamp)
        seen_once = self._seen_once
        if key not in seen_once:
            if len(seen_once) >= self._cache_size:
                seen_once.clear()
            seen_once.add(key)
            return verified.principal
        seen_once.discard(key)
        self._cache[key] = verified
        while len(self._cache) > self._cache_size:
            try:
                self._cache.popitem(last=False)
            except KeyError:
                break
        return verified.principal

    def clear_cache(self) -> None:
        self._cache.clear()
        self._seen_once.clear()


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def string(value: object) -> str:
    return value if isinstance(value, str) else ""

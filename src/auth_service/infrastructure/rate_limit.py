"""Rate limits with the `limits` library (moving window). Counters live in Redis when REDIS_URL is
set, so every instance counts together; if Redis fails, limits fall back to this instance's
memory (logged and counted) rather than failing open or failing requests. RATE_LIMIT_ENABLED=false
turns these request limits off; lockout, resend and wrong-code limits are elsewhere and stay on."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from auth_service.application.errors import RateLimitedError
from auth_service.application.ports import Metrics

log = structlog.get_logger(__name__)

RETRY_SHARED_AFTER = 5.0  # seconds on the in-memory fallback before trying Redis again


class LimitsRateLimiter:
    def __init__(self, limits: Mapping[str, str], *, enabled: bool, redis_url: str | None, metrics: Metrics) -> None:
        self._items: dict[str, RateLimitItem] = {name: parse(value) for name, value in limits.items()}
        self._enabled, self._metrics = enabled, metrics
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared_storage: Storage | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self._shared_storage = RedisStorage(uri, implementation="redispy", wrap_exceptions=True,
                                                socket_timeout=0.5, socket_connect_timeout=0.5)
            self._shared = MovingWindowRateLimiter(self._shared_storage)
        self._shared_down_until = 0.0

    @property
    def degraded(self) -> bool:
        return self._shared is not None and time.monotonic() < self._shared_down_until

    async def hit(self, name: str, key: str | None) -> None:
        if not self._enabled or key is None:
            return
        item = self._items[name]
        # Keys are hashed: no emails or IPs in clear in the shared store.
        identifier = hashlib.sha256(key.encode()).hexdigest()[:32]
        limiter = self._limiter()
        try:
            allowed = await limiter.hit(item, name, identifier)
            stats = None if allowed else await limiter.get_window_stats(item, name, identifier)
        except Exception as exc:
            if limiter is self._local:
                raise
            self._fall_back(exc)
            allowed = await self._local.hit(item, name, identifier)
            stats = None if allowed else await self._local.get_window_stats(item, name, identifier)
        if stats is not None:
            self._metrics.rate_limited()
            raise RateLimitedError(max(1, math.ceil(stats.reset_time - time.time())), limit=item.amount)

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            return self._shared
        return self._local

    def _fall_back(self, exc: Exception) -> None:
        self._shared_down_until = time.monotonic() + RETRY_SHARED_AFTER
        self._metrics.rate_limit_degraded()
        log.warning("rate_limit_store_unavailable", error=type(exc).__name__, fallback="memory")

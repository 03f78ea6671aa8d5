"""Revocations broadcast over Redis pub/sub, so every instance learns of a logout at once. The
database stays the source of truth: on (re)connecting an instance resynchronises from it, and the
database poll of InMemoryRevocationList keeps enforcing revocations while Redis is down."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from auth_service.application.ports import UnitOfWork
from auth_service.infrastructure.metrics import PrometheusMetrics
from auth_service.infrastructure.revocations import InMemoryRevocationList

log = structlog.get_logger(__name__)

CHANNEL = "auth-service:revocations"
RECONNECT_DELAY = 1.0


class RedisRevocationBus:
    def __init__(self, redis_url: str, revocations: InMemoryRevocationList, uow: Callable[[], UnitOfWork],
                 metrics: PrometheusMetrics) -> None:
        # One retry on a new connection: after Redis restarts, every pooled connection is dead, and
        # without it the first publish on each would fail (that revocation would then reach the
        # other instances only by their database poll). A message sent twice is harmless.
        self._redis: Redis = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                            health_check_interval=5, retry=Retry(NoBackoff(), 1))
        self._revocations, self._uow, self._metrics = revocations, uow, metrics
        self._subscribed = False

    def subscribed(self) -> bool:
        """Whether revocations of other instances reach this one live right now."""
        return self._subscribed

    async def publish(self, session_ids: Sequence[str], revoked_at: datetime) -> None:
        if not session_ids:
            return
        message = json.dumps({"sids": list(session_ids), "at": revoked_at.isoformat()})
        try:
            await self._redis.publish(CHANNEL, message)
        except Exception as exc:  # the database poll delivers it within its interval
            self._metrics.revocation_broadcast_failed()
            log.warning("revocation_broadcast_failed", error=type(exc).__name__)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(1.0):
                return bool(await self._redis.ping())
        except Exception:
            return False

    async def run(self) -> None:
        """Listen until cancelled; after every (re)connection, catch up from the database."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self._revocations.sync(self._uow)
                    self._subscribed = True
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._receive(message["data"])
            except asyncio.CancelledError:
                self._subscribed = False
                raise
            except Exception as exc:
                self._subscribed = False
                log.warning("revocation_subscription_lost", error=type(exc).__name__)
                await asyncio.sleep(RECONNECT_DELAY)

    def _receive(self, data: bytes | str) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            payload = json.loads(data)
            self._revocations.remember(payload["sids"], datetime.fromisoformat(payload["at"]))

    async def close(self) -> None:
        await self._redis.aclose()
